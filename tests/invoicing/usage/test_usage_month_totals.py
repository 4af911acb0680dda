"""usage_month_totals (issue 18): PostgreSQL's triggers keep the month's usage summed per
(deployment, kind, size slug, denominator) through every writer, and the pricing advisor reads
them — so they must equal a recomputation from the usage rows after anything.

Writers exercised through the real code: metering on its SQL path (INSERT ... SELECT ... ON
CONFLICT DO NOTHING, re-run), bulk inserts that skip conflicting rows, the LLM upsert (ON
CONFLICT DO UPDATE adds to an existing row), the ORM's updates and deletes, and retention; plus
a hypothesis property over random sequences of inserts, updates and deletes."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicing.models import UsageMonthTotal, UsageRecord, UsageSource
from invoicing.usage.metering import meter_day, usage_records_purge_expired
from invoicing.usage.selectors import month_units
from tests.deployments.factories import make_deployment
from tests.inventory.factories import change_resource, make_resource
from tests.invoicing.factories import at, llm_charges

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="usage_month_totals are kept by PostgreSQL triggers (SQLite reads the rows)",
    ),
]

MAY = dt.date(2026, 5, 1)
JUNE = dt.date(2026, 6, 1)
_days = itertools.count()


def from_rows() -> list[tuple]:
    """The totals recomputed from the usage rows (UTC months)."""
    return sorted(
        UsageRecord.objects.annotate(month=TruncMonth("period_start", tzinfo=dt.UTC))
        .values_list("month", "deployment_id", "resource_kind", "size_slug", "qty_denominator")
        .annotate(numerator=Sum("qty_numerator"), rows=Count("id"))
        .order_by(),
        key=repr,
    )


def kept() -> list[tuple]:
    return sorted(
        (
            (
                dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC),
                *rest,
            )
            for month, *rest in UsageMonthTotal.objects.values_list(
                "month",
                "deployment_id",
                "resource_kind",
                "size_slug",
                "qty_denominator",
                "qty_numerator",
                "rows",
            )
        ),
        key=repr,
    )


def manual_row(deployment, kind="droplet_hours", *, day=MAY, qty="5", denominator=1, slug=""):
    return UsageRecord(
        deployment=deployment,
        resource_kind=kind,
        period_start=at(day),
        qty=Decimal(qty) / denominator,
        qty_numerator=Decimal(qty),
        qty_denominator=denominator,
        size_slug=slug,
        source=UsageSource.MANUAL,
    )


def test_metering_re_runs_and_a_resize_keep_the_totals_equal_to_the_rows():
    deployment = make_deployment()
    droplet = make_resource(
        "droplet", deployment=deployment, status="active", size_slug="s-1vcpu-1gb"
    )
    day = MAY + dt.timedelta(days=13)
    change_resource(droplet, at=at(day, 12), size_slug="s-2vcpu-2gb")
    meter_day(day)
    meter_day(day)  # a re-run inserts nothing: ON CONFLICT DO NOTHING adds nothing either
    meter_day(day + dt.timedelta(days=1))

    assert kept() == from_rows()
    sizes = {
        (kind, slug): Decimal(numerator) / denominator
        for kind, slug, denominator, numerator in month_units(MAY)
        if kind == "droplet_hours"
    }
    # 12 h at the old size on the 14th; 12 h at the new one, then all of the 15th (24 h).
    assert sizes == {("droplet_hours", "s-1vcpu-1gb"): 12, ("droplet_hours", "s-2vcpu-2gb"): 36}


def test_bulk_inserts_skipping_conflicts_count_only_the_rows_inserted():
    deployment = make_deployment()
    droplet = make_resource("droplet", deployment=deployment, status="active")
    first = manual_row(deployment, qty="7")
    first.resource = droplet
    UsageRecord.objects.bulk_create([first])
    again = manual_row(deployment, qty="7")
    again.resource = droplet
    other_day = manual_row(deployment, qty="3", day=MAY + dt.timedelta(days=1))
    other_day.resource = droplet
    UsageRecord.objects.bulk_create([again, other_day], ignore_conflicts=True)

    assert kept() == from_rows()
    (total,) = UsageMonthTotal.objects.filter(deployment=deployment)
    assert (total.qty_numerator, total.rows) == (Decimal(10), 2)


def test_the_llm_upsert_adds_to_the_existing_row_and_to_its_total():
    deployment = make_deployment(llm_mode="plan")  # plan mode: tokens are metered as usage
    llm_charges(deployment, "0.10", day=MAY)
    llm_charges(deployment, "0.20", day=MAY)  # the same day's row: ON CONFLICT DO UPDATE
    assert kept() == from_rows()
    (total,) = UsageMonthTotal.objects.filter(deployment=deployment, resource_kind="llm_tokens")
    assert (total.qty_numerator, total.rows) == (Decimal(30), 1)  # 2 x 15 tokens, one row


def test_updates_moves_between_months_and_deletes_follow_the_rows():
    deployment, other = make_deployment(), make_deployment()
    UsageRecord.objects.bulk_create(
        [
            manual_row(deployment, qty="4"),
            manual_row(deployment, "volume_gb_month", qty="10", denominator=31),
            manual_row(other, qty="2", day=JUNE),
        ]
    )
    UsageRecord.objects.filter(deployment=deployment, resource_kind="droplet_hours").update(
        qty_numerator=Decimal(9), qty=Decimal(9), size_slug="s-1vcpu-1gb"
    )
    UsageRecord.objects.filter(deployment=other).update(
        period_start=at(MAY + dt.timedelta(days=2)), deployment=deployment
    )
    assert kept() == from_rows()
    assert not UsageMonthTotal.objects.filter(month=JUNE).exists()  # its last row moved away

    UsageRecord.objects.filter(resource_kind="volume_gb_month").delete()
    assert kept() == from_rows()
    UsageRecord.objects.all().delete()
    assert kept() == from_rows() == []


def test_retention_purges_the_rows_and_their_totals(settings):
    deployment = make_deployment()
    UsageRecord.objects.bulk_create(
        [manual_row(deployment, day=dt.date(2020, 1, 5)), manual_row(deployment, day=MAY)]
    )
    settings.LATE_USAGE_HORIZON_DAYS = 30  # late billing needs nothing before September
    deleted = usage_records_purge_expired(today=dt.date(2026, 11, 1))
    assert deleted == 1
    assert kept() == from_rows()
    assert [month for month, *_ in UsageMonthTotal.objects.values_list("month")] == [MAY]


# Random sequences of writes against a handful of keys.
write = st.one_of(
    st.tuples(
        st.just("insert"),
        st.integers(0, 1),  # deployment
        st.sampled_from(["droplet_hours", "volume_gb_month"]),
        st.sampled_from(["", "s-1vcpu-1gb"]),
        st.sampled_from([1, 30, 31]),
        st.integers(0, 10**12),
        st.sampled_from([MAY, JUNE]),
    ),
    st.tuples(st.just("update"), st.integers(0, 50), st.integers(0, 10**9)),
    st.tuples(st.just("resize"), st.integers(0, 50)),
    st.tuples(st.just("delete"), st.integers(0, 50), st.integers(1, 3)),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(write, min_size=1, max_size=15))
def test_the_totals_equal_the_rows_after_any_sequence_of_writes(db, writes):
    deployments = [make_deployment(), make_deployment()]
    for name, *args in writes:
        ids = list(UsageRecord.objects.order_by("pk").values_list("pk", flat=True))
        if name == "insert":
            pick, kind, slug, denominator, numerator, month = args
            UsageRecord.objects.bulk_create(
                [
                    manual_row(
                        deployments[pick],
                        kind,
                        day=month + dt.timedelta(days=next(_days) % 28),
                        qty=str(numerator),
                        denominator=denominator,
                        slug=slug,
                    )
                ],
                ignore_conflicts=True,
            )
        elif ids and name == "update":
            index, numerator = args
            UsageRecord.objects.filter(pk=ids[index % len(ids)]).update(
                qty_numerator=Decimal(numerator)
            )
        elif ids and name == "resize":
            UsageRecord.objects.filter(pk=ids[args[0] % len(ids)]).update(size_slug="s-2vcpu-2gb")
        elif ids and name == "delete":
            index, count = args
            UsageRecord.objects.filter(pk__in=ids[index % len(ids) :][:count]).delete()
        assert kept() == from_rows()
