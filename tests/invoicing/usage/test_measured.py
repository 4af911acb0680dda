"""Metering measured usage (issue 17): Spaces sizes as spaces_gb_month, droplet traffic as
bandwidth_gb, from complete measurements only; days without one are skipped with reasons."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicing.models import UsageRecord, UsageSource
from invoicing.usage.measured import measured_usage_catch_up
from invoicing.usage.metering import meter_day
from invoicing.usage.selectors import usage_for_period
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_measurement, make_resource

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 14)  # May: 31 days


def test_a_buckets_measured_size_accrues_gb_month_and_a_droplets_traffic_gb():
    deployment = make_deployment()
    bucket = make_resource("spaces_bucket", deployment=deployment)
    droplet = make_resource("droplet", deployment=deployment, status="active")
    make_measurement(bucket, DAY, "spaces_storage_gb", "62")
    make_measurement(droplet, DAY, "public_outbound_gb", "12.345678")

    result = meter_day(DAY)

    assert result.measured.records_created == 2 and result.measured.skipped == 0
    assert usage_for_period(deployment, DAY, DAY) == {
        "droplet_hours": Decimal("24.000000"),
        "bandwidth_gb": Decimal("12.345678"),
        "spaces_gb_month": Decimal("2.000000"),  # 62 GB for 1 day of 31
    }
    spaces_row = UsageRecord.objects.get(resource=bucket)
    assert (spaces_row.qty_numerator, spaces_row.qty_denominator) == (Decimal(62), 31)
    assert spaces_row.source == UsageSource.MEASURED
    # The droplet has both rows of the day; a re-run writes nothing more.
    assert UsageRecord.objects.filter(resource=droplet).count() == 2
    again = meter_day(DAY)
    assert again.records_created == 0 and again.measured.records_created == 0
    assert again.measured.already_metered == 2


def test_days_without_a_complete_measurement_are_skipped_with_reasons_never_guessed():
    deployment = make_deployment()
    unmeasured = make_resource("spaces_bucket", deployment=deployment)
    partial = make_resource("spaces_bucket", deployment=deployment)
    failed = make_resource("droplet", deployment=deployment, status="active")
    make_measurement(partial, DAY, "spaces_storage_gb", "5", status="partial")
    make_measurement(failed, DAY, "public_outbound_gb", None, status="failed", reason="HTTP 500")

    result = meter_day(DAY)

    assert result.measured.records_created == 0
    assert result.measured.skipped_reasons == {
        "spaces_storage_gb: no measurement yet": 1,
        "spaces_storage_gb: partial": 1,
        "public_outbound_gb: failed": 1,
    }
    assert result.as_dict()["measured"]["skipped"] == 3
    assert not UsageRecord.objects.filter(resource__in=[unmeasured, partial]).exists()
    assert list(UsageRecord.objects.filter(resource=failed).values_list("resource_kind")) == [
        ("droplet_hours",)
    ]


def test_a_measurement_that_arrives_later_is_metered_by_the_catch_up():
    deployment = make_deployment()
    droplet = make_resource("droplet", deployment=deployment, status="active")
    meter_day(DAY)
    make_measurement(droplet, DAY, "public_outbound_gb", "3.5")  # a retry got it the next day

    caught_up = measured_usage_catch_up(day=DAY + dt.timedelta(days=1))

    assert caught_up.records_created == 1
    assert usage_for_period(deployment, DAY, DAY)["bandwidth_gb"] == Decimal("3.500000")


def test_unattributed_resources_are_not_metered():
    bucket = make_resource("spaces_bucket", deployment=None)
    make_measurement(bucket, DAY, "spaces_storage_gb", "10")
    result = meter_day(DAY)
    assert result.measured.resources == 0
    assert not UsageRecord.objects.exists()


def test_the_portable_path_meters_the_same_measured_rows(monkeypatch):
    from invoicing.usage import metering

    deployment = make_deployment()
    bucket = make_resource("spaces_bucket", deployment=deployment)
    droplet = make_resource("droplet", deployment=deployment, status="active")
    make_measurement(bucket, DAY, "spaces_storage_gb", "7.75")
    make_measurement(droplet, DAY, "public_outbound_gb", "1")

    def rows():
        return sorted(
            UsageRecord.objects.values_list(
                "resource_id", "resource_kind", "qty_numerator", "qty_denominator", "source"
            )
        )

    sql_result = meter_day(DAY)
    sql_rows = rows()
    UsageRecord.objects.all().delete()
    monkeypatch.setattr(metering.connection, "vendor", "sqlite")
    assert meter_day(DAY) == sql_result
    assert rows() == sql_rows


def test_a_days_traffic_goes_to_the_deployment_that_held_the_droplet_longest_that_day():
    """The day's one measured value cannot be split by the hour it was sent in: moved from A
    to B at 06:00, the droplet's traffic of the day is B's (18 h of 24); its hours split 6/18."""
    from tests.inventory.factories import change_resource

    first, second = make_deployment(), make_deployment()
    droplet = make_resource("droplet", deployment=first, status="active")
    change_resource(
        droplet,
        at=dt.datetime.combine(DAY, dt.time(6), tzinfo=dt.UTC),
        deployment=second,
        tenant_id=second.tenant_id,
    )
    make_measurement(droplet, DAY, "public_outbound_gb", "10")

    meter_day(DAY)

    assert usage_for_period(first, DAY, DAY) == {"droplet_hours": Decimal("6.000000")}
    assert usage_for_period(second, DAY, DAY) == {
        "droplet_hours": Decimal("18.000000"),
        "bandwidth_gb": Decimal("10.000000"),
    }


def test_a_kubernetes_workers_traffic_is_metered_like_any_droplets():
    """A worker's hours bill through its cluster; its egress is still the tenant's."""
    deployment = make_deployment()
    worker = make_resource(
        "droplet", deployment=deployment, status="active", attrs={"tags": ["k8s:c-1"]}
    )
    make_measurement(worker, DAY, "public_outbound_gb", "3.5")

    meter_day(DAY)

    assert usage_for_period(deployment, DAY, DAY) == {"bandwidth_gb": Decimal("3.500000")}
