"""Metering (SPEC §11): inventory → usage_records, one UTC day at a time."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud.periods import iter_days
from invoicing.models import MeteringConfig, UsageRecord, UsageSource
from invoicing.usage import metering
from invoicing.usage.metering import METERED_KINDS, meter_day, usage_records_purge_expired
from invoicing.usage.selectors import usage_for_period
from pricing.kinds import BILLING_KINDS, RESOURCE_KINDS, Accrual, ResourceKind
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_measurement, make_resource
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

MAY_1 = dt.date(2026, 5, 1)
MAY_10 = dt.date(2026, 5, 10)
DAY = dt.date(2026, 5, 14)


def meter_range(start: dt.date, end: dt.date) -> list[metering.MeterResult]:
    return [meter_day(day) for day in iter_days(start, end)]


def rows_of(resource) -> list[UsageRecord]:
    return list(UsageRecord.objects.filter(resource=resource).order_by("period_start"))


def set_granularity(billing_kind: str, granularity: str) -> None:
    MeteringConfig.objects.update_or_create(
        billing_kind=billing_kind, defaults={"granularity": granularity}
    )


# ---------------------------------------------------------------------------------------------
# SPEC §17 example 3
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def example_3():
    deployment = make_deployment()
    for _ in range(2):
        make_resource("droplet", deployment=deployment, status="active")
        make_resource("dns_zone", deployment=deployment, status="active")
    for _ in range(3):
        make_resource("snapshot", deployment=deployment, size_gb="16")
    return deployment


def test_spec_example_3_ten_days_of_may(example_3):
    results = meter_range(MAY_1, MAY_10)

    assert UsageRecord.objects.count() == 70
    assert sum(result.records_created for result in results) == 70
    assert usage_for_period(example_3, MAY_1, MAY_10) == {
        "droplet_hours": Decimal("480.000000"),
        "dns_zones": Decimal("0.645161"),
        "snapshot_gb_month": Decimal("15.483871"),
    }


def test_rows_keep_six_places_and_the_exact_fraction(example_3):
    meter_day(MAY_1)

    dns = UsageRecord.objects.filter(resource_kind="dns_zones").first()
    snapshot = UsageRecord.objects.filter(resource_kind="snapshot_gb_month").first()
    assert (dns.qty, dns.qty_numerator, dns.qty_denominator) == (Decimal("0.032258"), 1, 31)
    assert (snapshot.qty, snapshot.qty_numerator, snapshot.qty_denominator) == (
        Decimal("0.516129"),
        16,
        31,
    )
    # Twenty rounded rows would make 0.645160; the exact sum rounded once is the spec's figure.
    assert dns.qty * 20 == Decimal("0.645160")


def test_a_whole_month_of_storage_is_exactly_its_size(example_3):
    meter_range(MAY_1, dt.date(2026, 5, 31))

    usage = usage_for_period(example_3, MAY_1, dt.date(2026, 5, 31))
    assert usage["snapshot_gb_month"] == Decimal("48.000000")
    assert usage["dns_zones"] == Decimal("2.000000")
    assert usage["droplet_hours"] == Decimal(2 * 24 * 31)


def test_rerunning_changes_nothing(example_3):
    meter_range(MAY_1, MAY_10)
    before = usage_for_period(example_3, MAY_1, MAY_10)

    again = meter_range(MAY_1, MAY_10)

    assert UsageRecord.objects.count() == 70
    assert usage_for_period(example_3, MAY_1, MAY_10) == before
    assert [result.records_created for result in again] == [0] * 10
    assert [result.already_metered for result in again] == [7] * 10


# ---------------------------------------------------------------------------------------------
# Which resources a day meters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_seen_at", "deleted_at", "hours"),
    [
        pytest.param(at(DAY, 23, 59, 59), None, "0.000278", id="first seen in the last second"),
        pytest.param(at(DAY + dt.timedelta(days=1)), None, None, id="first seen after the day"),
        pytest.param(at(DAY, 0), at(DAY, 12), "12.000000", id="deleted mid-day: until then"),
        pytest.param(at(DAY - dt.timedelta(days=5)), at(DAY), None, id="deleted at midnight"),
        pytest.param(
            at(DAY - dt.timedelta(days=5)),
            at(DAY, 0, 0, 1),
            "0.000278",
            id="deleted a second into the day",
        ),
        pytest.param(
            at(DAY - dt.timedelta(days=5)),
            at(DAY - dt.timedelta(days=1), 23, 59, 59),
            None,
            id="deleted before the day",
        ),
    ],
)
def test_tombstone_and_first_seen_boundaries(first_seen_at, deleted_at, hours):
    """Issue 17: a resource accrues from its first sighting (or DO's created_at) to its last
    sighting (its tombstone), not for the whole day it was alive in."""
    resource = make_resource(
        "droplet",
        deployment=make_deployment(),
        status="active",
        first_seen_at=first_seen_at,
        deleted_at=deleted_at,
    )

    result = meter_day(DAY)

    assert result.resources == int(hours is not None)
    assert [(row.period_start, row.qty) for row in rows_of(resource)] == (
        [(at(DAY), Decimal(hours))] if hours else []
    )


def test_off_droplet_is_metered_as_zero_hours():
    deployment = make_deployment()
    off = make_resource("droplet", deployment=deployment, status="off")

    meter_day(DAY)

    assert [row.qty for row in rows_of(off)] == [Decimal("0")]
    assert usage_for_period(deployment, DAY, DAY) == {"droplet_hours": Decimal("0.000000")}


def test_only_unassigned_floating_ips_accrue_hours():
    deployment = make_deployment()
    idle = make_resource("floating_ip", deployment=deployment, status="unassigned")
    in_use = make_resource("floating_ip", deployment=deployment, status="assigned")

    meter_day(DAY)

    assert [row.qty for row in rows_of(idle)] == [Decimal(24)]
    assert [row.qty for row in rows_of(in_use)] == [Decimal(0)]
    assert usage_for_period(deployment, DAY, DAY) == {"floating_ip_hours": Decimal("24.000000")}


def test_every_billable_kind_accrues_its_billing_kind():
    deployment = make_deployment()
    make_resource("load_balancer", deployment=deployment, status="active", attrs={"nodes": 2})
    make_resource("volume", deployment=deployment, size_gb="100")
    make_resource("droplet_backup", deployment=deployment, size_gb="6.2")
    # A bucket's size is its measurement at the source (issue 17), not attrs.size_gb.
    bucket = make_resource("spaces_bucket", deployment=deployment, size_gb="999")
    make_measurement(bucket, DAY, "spaces_storage_gb", "155")
    make_resource("snapshot", deployment=deployment, size_gb=31)  # a JSON number

    meter_day(DAY)

    assert usage_for_period(deployment, DAY, DAY) == {
        "backup_gb_month": Decimal("0.200000"),
        "load_balancer_hours": Decimal("48.000000"),  # 2 nodes
        "snapshot_gb_month": Decimal("1.000000"),
        "spaces_gb_month": Decimal("5.000000"),
        "volume_gb_month": Decimal("3.225806"),
    }


def test_unattributed_and_unbillable_resources_are_not_metered():
    make_resource("droplet", deployment=None, status="active")
    make_resource("firewall", deployment=make_deployment(), status="succeeded")
    # A Kubernetes worker droplet bills through its cluster, not as a droplet.
    make_resource(
        "droplet", deployment=make_deployment(), status="active", attrs={"tags": ["k8s:c1"]}
    )

    result = meter_day(DAY)

    assert result.resources == 0
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize("size", [None, "", "abc", "-5", "1E+999", "NaN", True, {"gb": 5}])
def test_unknown_sizes_are_skipped_and_counted_never_guessed(size, caplog):
    deployment = make_deployment()
    unknown = make_resource("volume", deployment=deployment, attrs={"size_gb": size})
    known = make_resource("volume", deployment=deployment, size_gb="31")

    with caplog.at_level(logging.WARNING, logger="invoicing.usage.metering"):
        result = meter_day(DAY)

    assert (result.resources, result.records_created, result.skipped_unknown_size) == (2, 1, 1)
    assert result.skipped_examples == (unknown.pk,)
    assert rows_of(unknown) == []
    assert [row.qty for row in rows_of(known)] == [Decimal(1)]
    assert f"resource ids {unknown.pk}" in caplog.text


def test_a_resource_moved_to_another_deployment_is_not_metered_twice_for_a_day():
    first, second = make_deployment(), make_deployment()
    droplet = make_resource("droplet", deployment=first, status="active")
    meter_day(DAY)

    droplet.deployment = second
    droplet.save()
    result = meter_day(DAY)

    assert result.already_metered == 1
    assert [row.deployment_id for row in rows_of(droplet)] == [first.pk]


def test_rows_are_marked_as_metered_and_unattributed():
    make_resource("droplet", deployment=make_deployment(), status="active")

    meter_day(DAY)

    row = UsageRecord.objects.get()
    assert (row.source, row.granularity, row.sub_attribution) == (UsageSource.METER, "daily", None)
    assert row.created_at is not None


def test_query_count_does_not_grow_with_resources():
    deployment = make_deployment()

    def queries_for(day: dt.date, resources: int) -> int:
        for _ in range(resources):
            make_resource("droplet", deployment=deployment, status="active")
            make_resource("snapshot", deployment=deployment, size_gb="10")
        with CaptureQueriesContext(connection) as captured:
            meter_day(day)
        return len(captured)

    few = queries_for(DAY, 2)
    many = queries_for(DAY + dt.timedelta(days=1), 60)
    assert many == few
    assert UsageRecord.objects.filter(period_start=at(DAY + dt.timedelta(days=1))).count() == 124


def test_every_registered_kind_is_metered_as_the_registry_says_and_only_those():
    deployment = make_deployment()
    for kind in RESOURCE_KINDS.values():
        status = min(kind.billable_statuses) if kind.billable_statuses else "active"
        sizes = {"nodes": 1, "num_nodes": 1, "node_count": 1, "instance_count": 1}
        make_resource(kind.code, deployment=deployment, status=status, size_gb="31", attrs=sizes)

    result = meter_day(DAY)

    metered = [kind for kind in RESOURCE_KINDS.values() if kind.is_state_metered]
    assert [kind.code for kind in METERED_KINDS] == [kind.code for kind in metered]
    assert result.resources == result.records_created == len(metered)
    expected = {
        Accrual.HOURS: Decimal("24.000000"),
        Accrual.SIZE_PER_MONTH: Decimal("1.000000"),  # 31 GB for 1 day of 31
        Accrual.ONE_PER_MONTH: Decimal("0.032258"),
    }
    assert usage_for_period(deployment, DAY, DAY) == {
        kind.billing_kind: expected[kind.accrual] for kind in metered
    }


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_a_kind_may_accrue_in_several_billable_statuses(vendor):
    """The registry gives each kind a set of billable statuses; both paths take the set."""
    several = ResourceKind(
        "droplet",
        "Droplet",
        "droplet_hours",
        Accrual.HOURS,
        billable_statuses=frozenset({"active", "new"}),
    )
    deployment = make_deployment()
    resources = {
        status: make_resource("droplet", deployment=deployment, status=status)
        for status in ("active", "new", "off", "")
    }
    meter = metering._meter_kinds_sql if vendor == "postgresql" else metering._meter_kinds_portable

    result = meter(DAY, "daily", [metering.KindRule(several, several.billable_statuses)])

    assert result.records_created == 4
    assert {status: [row.qty for row in rows_of(r)] for status, r in resources.items()} == {
        "active": [Decimal(24)],
        "new": [Decimal(24)],
        "off": [Decimal(0)],
        "": [Decimal(0)],
    }


# ---------------------------------------------------------------------------------------------
# Hourly granularity and the portable (SQLite) path
# ---------------------------------------------------------------------------------------------


def test_hourly_kinds_get_a_row_per_hour_the_resource_existed():
    set_granularity("snapshot_gb_month", "hourly")
    set_granularity("droplet_hours", "hourly")
    deployment = make_deployment()
    snapshot = make_resource(
        "snapshot", deployment=deployment, size_gb="16", deleted_at=at(DAY, 10, 30)
    )
    droplet = make_resource("droplet", deployment=deployment, status="active")
    make_resource("dns_zone", deployment=deployment)  # still daily

    result = meter_day(DAY)

    assert [row.period_start.hour for row in rows_of(snapshot)] == list(range(11))
    assert {row.granularity for row in rows_of(snapshot)} == {"hourly"}
    last = rows_of(snapshot)[-1]  # the half hour 10:00-10:30: 16 GB x 1800 s of the month's
    assert (last.qty_numerator, last.qty_denominator) == (8, 31 * 24)  # reduced by the hour
    assert len(rows_of(droplet)) == 24
    assert result.records_created == 11 + 24 + 1
    assert usage_for_period(deployment, DAY, DAY) == {
        "dns_zones": Decimal("0.032258"),
        "droplet_hours": Decimal("24.000000"),
        # Until its tombstone at 10:30: 16 x 10.5 / (31 x 24) (issue 17).
        "snapshot_gb_month": Decimal("0.225806"),
    }
    assert meter_day(DAY).records_created == 0


def test_a_day_metered_daily_is_not_metered_again_after_switching_to_hourly():
    deployment = make_deployment()
    droplet = make_resource("droplet", deployment=deployment, status="active")
    meter_day(DAY)

    set_granularity("droplet_hours", "hourly")
    meter_day(DAY)

    assert [row.granularity for row in rows_of(droplet)] == ["daily"]


def _metered_rows() -> list[tuple]:
    return sorted(
        UsageRecord.objects.values_list(
            "deployment_id",
            "resource_id",
            "resource_kind",
            "period_start",
            "granularity",
            "qty",
            "qty_numerator",
            "qty_denominator",
            "source",
        )
    )


def test_the_portable_path_writes_exactly_what_the_sql_path_writes(monkeypatch):
    set_granularity("volume_gb_month", "hourly")
    deployment = make_deployment()
    make_resource("droplet", deployment=deployment, status="active")
    make_resource("droplet", deployment=deployment, status="off")
    make_resource("floating_ip", deployment=deployment, status="assigned")
    make_resource("floating_ip", deployment=deployment, status="unassigned")
    make_resource("load_balancer", deployment=deployment, first_seen_at=at(DAY, 18))
    make_resource("dns_zone", deployment=deployment, deleted_at=at(DAY, 1))
    make_resource("volume", deployment=deployment, size_gb="7.123456789", deleted_at=at(DAY, 5))
    make_resource("snapshot", deployment=deployment, size_gb="1.6E+2")
    make_resource("spaces_bucket", deployment=deployment, size_gb="nope")
    make_resource("droplet", deployment=None, status="active")

    sql_result = meter_day(DAY)
    sql_rows = _metered_rows()
    UsageRecord.objects.all().delete()
    monkeypatch.setattr(metering.connection, "vendor", "sqlite")
    portable_result = meter_day(DAY)

    assert _metered_rows() == sql_rows
    assert portable_result == sql_result
    assert meter_day(DAY).records_created == 0


# ---------------------------------------------------------------------------------------------
# Configuration and retention
# ---------------------------------------------------------------------------------------------


def test_every_billing_kind_has_a_seeded_daily_config():
    configs = {row.billing_kind: row for row in MeteringConfig.objects.all()}

    assert set(configs) == set(BILLING_KINDS)
    assert {(row.granularity, row.retention_days) for row in configs.values()} == {("daily", 400)}


def test_a_kind_without_config_is_metered_daily():
    MeteringConfig.objects.filter(billing_kind="droplet_hours").delete()
    droplet = make_resource("droplet", deployment=make_deployment(), status="active")

    meter_day(DAY)

    assert [row.granularity for row in rows_of(droplet)] == ["daily"]


def test_retention_deletes_only_rows_older_than_their_kind_allows(settings):
    MeteringConfig.objects.filter(billing_kind="dns_zones").update(retention_days=100)
    deployment = make_deployment()
    make_resource("droplet", deployment=deployment, status="active")
    make_resource("dns_zone", deployment=deployment)
    today = dt.date(2026, 11, 1)
    old, recent = today - dt.timedelta(days=101), today - dt.timedelta(days=100)
    for day in (old, recent):
        meter_day(day)
    settings.LATE_USAGE_HORIZON_DAYS = 30  # late billing needs nothing before 1 September

    deleted = usage_records_purge_expired(today=today)

    assert deleted == 1
    assert sorted(UsageRecord.objects.values_list("resource_kind", "period_start")) == [
        ("dns_zones", at(recent)),
        ("droplet_hours", at(old)),
        ("droplet_hours", at(recent)),
    ]


def test_retention_keeps_the_months_that_late_usage_may_still_be_billed_for(settings):
    """With the 62-day horizon, usage recorded in October may be dated as early as 31 July, so
    October's rollup (not run yet on 1 November) may still re-price July: a 62-day retention
    would purge everything before 31 August, but rows from 1 July on are kept."""
    MeteringConfig.objects.update(retention_days=62)
    deployment = make_deployment()
    make_resource("dns_zone", deployment=deployment)
    today = dt.date(2026, 11, 1)
    for day in (dt.date(2026, 6, 30), dt.date(2026, 7, 1), dt.date(2026, 8, 20)):
        meter_day(day)
    settings.LATE_USAGE_HORIZON_DAYS = 62

    deleted = usage_records_purge_expired(today=today)

    assert deleted == 1
    assert sorted(UsageRecord.objects.values_list("period_start", flat=True)) == [
        at(dt.date(2026, 7, 1)),
        at(dt.date(2026, 8, 20)),
    ]
