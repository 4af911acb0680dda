"""Issue 17: metering integrates each resource's billed history (what happened, moment by
moment), on both paths: the set-based SQL one and the portable (SQLite) one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError

from arcadia_cloud.periods import iter_days
from invoicing.models import MeteringConfig, UsageRecord
from invoicing.usage import metering
from invoicing.usage.metering import meter_day
from invoicing.usage.selectors import usage_for_period
from tests.deployments.factories import make_deployment
from tests.inventory.factories import change_resource, make_resource
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 14)
JUNE_16 = dt.date(2026, 6, 16)  # June has 30 days


@pytest.fixture(params=["postgresql", "sqlite"])
def vendor(request, monkeypatch):
    """Runs a test on the SQL path and on the portable path (what SQLite runs). On a real
    SQLite database (`test_metering_on_sqlite.py` runs the examples there) only the portable
    path exists: the SQL one is skipped."""
    real = metering.connection.vendor
    if request.param == "postgresql" and real != "postgresql":
        pytest.skip(f"the set-based SQL path is PostgreSQL's (this database is {real})")
    if request.param == "sqlite" and real == "postgresql":
        monkeypatch.setattr(metering.connection, "vendor", "sqlite")
    return request.param


def exact(rows) -> Fraction:
    return sum((Fraction(r.qty_numerator) / r.qty_denominator for r in rows), Fraction(0))


def rows_of(resource, **filters) -> list[UsageRecord]:
    return list(
        UsageRecord.objects.filter(resource=resource, **filters).order_by("period_start", "id")
    )


def test_a_droplet_active_until_ten_then_off_bills_ten_hours(vendor):
    deployment = make_deployment()
    droplet = make_resource("droplet", deployment=deployment, status="active")
    change_resource(droplet, at=at(DAY, 10), status="off")

    result = meter_day(DAY)

    (row,) = rows_of(droplet)
    assert (row.resource_kind, row.qty, row.qty_numerator, row.qty_denominator) == (
        "droplet_hours",
        Decimal("10.000000"),
        10,
        1,
    )
    assert exact([row]) == 10
    assert result.records_created == 1
    # The next day it is off all day: a 0 row ("metered, was off").
    meter_day(DAY + dt.timedelta(days=1))
    assert [r.qty for r in rows_of(droplet)] == [Decimal(10), Decimal(0)]


def test_a_volume_resized_at_noon_on_the_16th_of_a_30_day_month(vendor):
    deployment = make_deployment()
    volume = make_resource("volume", deployment=deployment, size_gb="100")
    change_resource(volume, at=at(JUNE_16, 12), attrs={"size_gb": "200"})

    meter_day(JUNE_16)

    rows = rows_of(volume)
    assert [r.resource_kind for r in rows] == ["volume_gb_month"]
    assert exact(rows) == Fraction(100 * 12 + 200 * 12, 24) / 30
    assert rows[0].qty == Decimal("5.000000")
    # The days either side are metered at the size they had then.
    meter_day(JUNE_16 - dt.timedelta(days=1))
    meter_day(JUNE_16 + dt.timedelta(days=1))
    before, after = (
        rows_of(volume, period_start=at(JUNE_16 - dt.timedelta(days=1))),
        rows_of(volume, period_start=at(JUNE_16 + dt.timedelta(days=1))),
    )
    assert (exact(before), exact(after)) == (Fraction(100, 30), Fraction(200, 30))


def test_a_droplet_moved_between_deployments_at_six_bills_each_its_share(vendor):
    first, second = make_deployment(), make_deployment()
    droplet = make_resource("droplet", deployment=first, status="active")
    change_resource(droplet, at=at(DAY, 6), deployment=second, tenant_id=second.tenant_id)

    result = meter_day(DAY)

    assert {r.deployment_id: exact([r]) for r in rows_of(droplet)} == {
        first.pk: 6,
        second.pk: 18,
    }
    assert usage_for_period(first, DAY, DAY) == {"droplet_hours": Decimal("6.000000")}
    assert usage_for_period(second, DAY, DAY) == {"droplet_hours": Decimal("18.000000")}
    assert (result.resources, result.records_created) == (1, 2)
    assert meter_day(DAY).records_created == 0


def test_hourly_rows_split_the_same_timeline(vendor):
    MeteringConfig.objects.update_or_create(
        billing_kind="droplet_hours", defaults={"granularity": "hourly"}
    )
    droplet = make_resource("droplet", deployment=make_deployment(), status="active")
    change_resource(droplet, at=at(DAY, 10, 30), status="off")

    meter_day(DAY)

    rows = rows_of(droplet)
    assert len(rows) == 24
    assert [exact([r]) for r in rows[9:12]] == [1, Fraction(1, 2), 0]
    assert exact(rows) == Fraction(21, 2)


def test_a_backfill_of_a_past_month_reproduces_its_rows_exactly(vendor):
    deployment, other = make_deployment(), make_deployment()
    droplet = make_resource("droplet", deployment=deployment, status="active")
    volume = make_resource("volume", deployment=deployment, size_gb="40")
    change_resource(droplet, at=at(dt.date(2026, 6, 3), 7, 20), status="off")
    change_resource(droplet, at=at(dt.date(2026, 6, 9), 1), status="active")
    change_resource(volume, at=at(dt.date(2026, 6, 12), 15, 45, 10), attrs={"size_gb": "80"})
    change_resource(droplet, at=at(dt.date(2026, 6, 20), 18), deployment=other)
    june = list(iter_days(dt.date(2026, 6, 1), dt.date(2026, 6, 30)))

    def snapshot_rows():
        return sorted(
            UsageRecord.objects.values_list(
                "deployment_id",
                "resource_id",
                "resource_kind",
                "period_start",
                "qty",
                "qty_numerator",
                "qty_denominator",
            )
        )

    for day in june:
        meter_day(day)
    original = snapshot_rows()
    # Later changes (July) do not touch June; the usage is deleted and June metered again.
    change_resource(droplet, at=at(dt.date(2026, 7, 2)), status="off")
    change_resource(volume, at=at(dt.date(2026, 7, 2)), attrs={"size_gb": "500"})
    UsageRecord.objects.all().delete()
    for day in june:
        meter_day(day)

    assert snapshot_rows() == original
    assert exact(UsageRecord.objects.filter(resource=volume)) == Fraction(
        40 * (11 * 86400 + 15 * 3600 + 45 * 60 + 10) + 80 * (30 * 86400 - (11 * 86400 + 56710)),
        86400 * 30,
    )


def test_billable_statuses_are_configuration(vendor):
    deployment = make_deployment()
    off = make_resource("droplet", deployment=deployment, status="off")
    MeteringConfig.objects.update_or_create(
        billing_kind="droplet_hours", defaults={"billable_statuses": ["active", "off"]}
    )

    meter_day(DAY)

    assert [r.qty for r in rows_of(off)] == [Decimal(24)]


def test_empty_billable_statuses_mean_the_registry_default(vendor):
    off = make_resource("droplet", deployment=make_deployment(), status="off")
    MeteringConfig.objects.update_or_create(
        billing_kind="droplet_hours", defaults={"billable_statuses": []}
    )

    meter_day(DAY)

    assert [r.qty for r in rows_of(off)] == [Decimal(0)]


@pytest.mark.parametrize("value", ["active", [""], ["active", "active"], [1], ["x" * 33]])
def test_bad_billable_statuses_are_refused_naming_the_field(value):
    config = MeteringConfig(billing_kind="droplet_hours", billable_statuses=value)

    with pytest.raises(ValidationError) as error:
        config.clean_fields()

    assert "billable_statuses" in error.value.message_dict


def test_every_synced_kind_is_metered_with_its_billing_kind_and_size(vendor):
    deployment = make_deployment()
    make_resource("managed_db", deployment=deployment, status="online", attrs={"num_nodes": 3})
    make_resource("k8s_cluster", deployment=deployment, status="running", attrs={"node_count": 2})
    for _ in range(2):  # its workers bill through the cluster, not as droplets
        make_resource("droplet", deployment=deployment, status="active", attrs={"tags": ["k8s:c"]})
    make_resource("app", deployment=deployment, status="active", attrs={"instance_count": 4})
    make_resource("load_balancer", deployment=deployment, status="active", attrs={"nodes": 3})
    make_resource(
        "droplet",
        deployment=deployment,
        status="active",
        attrs={"gpu_count": 1, "gpu_model": "h100"},
    )
    make_resource("droplet", deployment=deployment, status="active")
    make_resource("custom_image", deployment=deployment, status="available", size_gb="31")
    make_resource("container_registry", deployment=deployment, status="active", size_gb="62")
    make_resource("reserved_ipv6", deployment=deployment, status="unassigned")
    make_resource("reserved_ipv6", deployment=deployment, status="assigned")

    result = meter_day(DAY)

    assert usage_for_period(deployment, DAY, DAY) == {
        "app_instance_hours": Decimal("96.000000"),
        "custom_image_gb_month": Decimal("1.000000"),
        "database_node_hours": Decimal("72.000000"),
        "droplet_hours": Decimal("24.000000"),
        "gpu_droplet_hours": Decimal("24.000000"),
        "kubernetes_node_hours": Decimal("48.000000"),
        "load_balancer_hours": Decimal("72.000000"),
        "registry_gb_month": Decimal("2.000000"),
        "reserved_ipv6_hours": Decimal("24.000000"),
    }
    assert result.resources == 10  # the two workers are not metered


# ---------------------------------------------------------------------------------------------
# Issue 18: usage carries the size slug; a resize splits the day by size
# ---------------------------------------------------------------------------------------------


def test_a_droplet_resized_at_eight_splits_the_day_by_size_slug(vendor):
    from inventory.models import CloudResourceHistory
    from invoicing.usage.selectors import usage_with_sizes

    deployment = make_deployment()
    droplet = make_resource(
        "droplet", deployment=deployment, status="active", size_slug="s-1vcpu-1gb"
    )
    change_resource(droplet, at=at(DAY, 8), size_slug="m-24vcpu-192gb")

    result = meter_day(DAY)

    intervals = CloudResourceHistory.objects.filter(resource=droplet).order_by("valid_from")
    assert [i.size_slug for i in intervals] == ["s-1vcpu-1gb", "m-24vcpu-192gb"]
    assert {(r.size_slug, r.qty) for r in rows_of(droplet)} == {
        ("s-1vcpu-1gb", Decimal(8)),
        ("m-24vcpu-192gb", Decimal(16)),
    }
    assert result.records_created == 2
    assert meter_day(DAY).records_created == 0
    totals, sized = usage_with_sizes([deployment.pk], DAY, DAY)[deployment.pk]
    assert totals == {"droplet_hours": Decimal(24)}
    assert sized == {"droplet_hours": {"m-24vcpu-192gb": Decimal(16), "s-1vcpu-1gb": Decimal(8)}}
