"""Daily COGS: DigitalOcean's billing insights ingested day by day (issue 18 item 3).

The emulator serves the April 2026 account's nightly estimates (integrations/digitalocean/
sandbox/invoice.py): each day of a line is its day's share rounded to a cent on its own, so a
12.00 droplet costs 0.43 a day for its first 28 days (672 hours) and nothing after.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import responses
from django.core.management import CommandError, call_command

from arcadia_cloud.validation import FieldError
from billing.models import CloudCostDay, CloudDailyCost, MatchCode, MatchStatus
from billing.schedules import SCHEDULES
from billing.services import (
    DailyCostsRejected,
    daily_costs_ingest,
    daily_costs_ingest_enqueue,
    daily_default_range,
)
from billing.tasks import NO_ACCOUNT_URN, ingest_daily_costs
from integrations.digitalocean import DOBadPayload, DOServerError
from integrations.digitalocean.sandbox.emulator import DEFAULT_ACCOUNT_URN
from tests.billing.factories import DO_BASE_URL, day, do_client
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

URN = DEFAULT_ACCOUNT_URN
APRIL_1 = dt.date(2026, 4, 1)
APRIL_30 = dt.date(2026, 4, 30)
LONG_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
INSIGHTS = f"/v2/billing/{URN}/insights/"


def ingest(client, start=APRIL_1, end=APRIL_30, **kwargs):
    kwargs.setdefault("account_urn", URN)
    return daily_costs_ingest(client=client, start=start, end=end, **kwargs)


def rows_of(description: str, sku_prefix: str = "") -> list[CloudDailyCost]:
    return list(
        CloudDailyCost.objects.filter(description=description, sku__startswith=sku_prefix).order_by(
            "day"
        )
    )


def snapshot() -> list[tuple]:
    return list(
        CloudDailyCost.objects.order_by("day", "position").values_list(
            "day", "position", "sku", "description", "amount", "resource_id", "match_status"
        )
    )


# -- ingest, pagination, idempotency ----------------------------------------------------------


def test_a_month_is_ingested_page_by_page_day_by_day(emulator, emulator_client):
    result = ingest(emulator_client)

    served = emulator.request_count(f"{INSIGHTS}2026-04-01/2026-04-30")
    assert served > 1  # 200 points a page: the month is several pages, all fetched
    assert result.rows == CloudDailyCost.objects.count() > 200 * (served - 1)
    assert result.days == 30 == CloudCostDay.objects.filter(ingested_at__isnull=False).count()
    web = rows_of("acme-web-1 (s-1vcpu-2gb)", "1-DO-DROP")
    assert [row.amount for row in web] == [Decimal("0.43")] * 28 + [Decimal("0.00")] * 2
    assert {(row.product, row.kind, row.region) for row in web} == {("Droplets", "droplet", "syd1")}
    warehouse = rows_of("globex-warehouse (m-24vcpu-192gb)")
    assert sum(row.amount for row in warehouse) == Decimal("1008.00")  # 36.00 a day, exact
    april_1 = CloudCostDay.objects.get(day=APRIL_1)
    assert april_1.amount == sum(r.amount for r in CloudDailyCost.objects.filter(day=APRIL_1))
    assert april_1.row_count == CloudDailyCost.objects.filter(day=APRIL_1).count()


def test_re_running_a_range_replaces_its_days_never_duplicates(emulator, emulator_client):
    ingest(emulator_client)
    before = snapshot()

    ingest(emulator_client)
    assert snapshot() == before

    # One day again: that day's rows are replaced, the others untouched.
    ingest(emulator_client, start=dt.date(2026, 4, 10), end=dt.date(2026, 4, 10))
    assert snapshot() == before


def test_a_days_rows_follow_what_digitalocean_says_now(emulator, emulator_client):
    ingest(emulator_client)
    # DigitalOcean revises day 10: one point of 1.23 now.
    emulator.faults.add(
        path_prefix=f"{INSIGHTS}2026-04-10/2026-04-10",
        body=json.dumps(
            {
                "data_points": [
                    {
                        "usage_team_urn": URN,
                        "start_date": "2026-04-10",
                        "total_amount": "1.23",
                        "region": "syd1",
                        "sku": "1-DO-DROP-0109",
                        "description": "acme-web-1 (s-1vcpu-2gb)",
                        "group_description": "",
                    }
                ],
                "total_items": 1,
                "total_pages": 1,
                "current_page": 1,
            }
        ),
    )
    others = [row for row in snapshot() if row[0] != dt.date(2026, 4, 10)]

    ingest(emulator_client, start=dt.date(2026, 4, 10), end=dt.date(2026, 4, 10))

    tenth = CloudDailyCost.objects.get(day=dt.date(2026, 4, 10))
    assert (tenth.position, tenth.amount) == (1, Decimal("1.23"))
    assert [row for row in snapshot() if row[0] != dt.date(2026, 4, 10)] == others
    assert CloudCostDay.objects.get(day=dt.date(2026, 4, 10)).amount == Decimal("1.23")


def test_only_ended_days_are_served_and_a_range_past_them_is_empty(emulator, emulator_client):
    emulator.set_clock(day(15) + dt.timedelta(hours=9))  # 15 April: days 1..14 have ended
    ingest(emulator_client)
    assert CloudDailyCost.objects.latest("day").day == dt.date(2026, 4, 14)
    # The days not published yet are taken as empty (a later run replaces them).
    assert CloudCostDay.objects.get(day=dt.date(2026, 4, 20)).row_count == 0


# -- failures keep the previous rows ------------------------------------------------------------


def test_a_digitalocean_failure_keeps_the_rows_and_records_the_error(emulator, emulator_client):
    ingest(emulator_client)
    before = snapshot()
    days_before = list(CloudCostDay.objects.values_list("day", "row_count", "amount"))
    emulator.faults.add(path_prefix=INSIGHTS, page=2, status=500, every=True)

    with pytest.raises(DOServerError):
        ingest(emulator_client)

    assert snapshot() == before
    assert list(CloudCostDay.objects.values_list("day", "row_count", "amount")) == days_before
    errors = set(CloudCostDay.objects.values_list("last_error", flat=True))
    assert len(errors) == 1 and "previous rows kept" in errors.pop()


def test_a_bad_data_point_refuses_the_whole_range(emulator, emulator_client):
    ingest(emulator_client)
    before = snapshot()
    emulator.faults.add(
        path_prefix=INSIGHTS,
        body=(
            '{"data_points": [{"start_date": "2026-04-02", "total_amount": "1.00", "sku": '
            '"1-DO-DROP-0109", "description": "a (b)"}, {"start_date": "2026-04-03", '
            '"total_amount": "lots", "sku": "1-DO-DROP-0109", "description": "a (b)"}], '
            '"total_items": 2, "total_pages": 1, "current_page": 1}'
        ),
    )

    with pytest.raises(DailyCostsRejected) as caught:
        ingest(emulator_client)

    assert "data_points[1].total_amount" in caught.value.fields
    assert snapshot() == before
    assert "'lots' is not an amount" in CloudCostDay.objects.get(day=APRIL_1).last_error


def test_a_point_outside_the_range_is_refused(emulator, emulator_client):
    emulator.faults.add(
        path_prefix=INSIGHTS,
        body=(
            '{"data_points": [{"start_date": "2026-05-02", "total_amount": "1.00", "sku": '
            '"1-DO-DROP-0109", "description": "a (b)"}], "total_items": 1, "total_pages": 1, '
            '"current_page": 1}'
        ),
    )
    with pytest.raises(DailyCostsRejected, match="outside the requested"):
        ingest(emulator_client)
    assert not CloudDailyCost.objects.exists()


def test_a_success_after_a_failure_clears_the_error(emulator, emulator_client):
    emulator.faults.add(path_prefix=INSIGHTS, status=500, every=True, times=100)
    with pytest.raises(DOServerError):
        ingest(emulator_client, end=APRIL_1)
    assert CloudCostDay.objects.get(day=APRIL_1).last_error
    emulator.faults.clear()
    ingest(emulator_client, end=APRIL_1)
    assert CloudCostDay.objects.get(day=APRIL_1).last_error == ""


# -- the client's pagination (page numbers, not links) ------------------------------------------


def _page(points, *, total_items, total_pages, current_page):
    return {
        "data_points": points,
        "total_items": total_items,
        "total_pages": total_pages,
        "current_page": current_page,
    }


POINT = {"start_date": "2026-04-01", "total_amount": "1.00", "sku": "1-DO-DROP-0109"}


@responses.activate
def test_the_client_follows_page_numbers_until_the_last():
    url = f"{DO_BASE_URL}/v2/billing/{URN}/insights/2026-04-01/2026-04-02"
    for number in (1, 2, 3):
        responses.get(
            url,
            match=[responses.matchers.query_param_matcher({"per_page": "200", "page": number})],
            json=_page([POINT], total_items=3, total_pages=3, current_page=number),
        )
    points = do_client().list_billing_insights(URN, APRIL_1, dt.date(2026, 4, 2))
    assert len(points) == 3 and len(responses.calls) == 3


@responses.activate
def test_the_client_refuses_a_listing_that_does_not_add_up():
    url = f"{DO_BASE_URL}/v2/billing/{URN}/insights/2026-04-01/2026-04-01"
    responses.get(url, json=_page([POINT], total_items=2, total_pages=1, current_page=1))
    with pytest.raises(DOBadPayload, match="total_items says 2"):
        do_client().list_billing_insights(URN, APRIL_1, APRIL_1)


@responses.activate
def test_the_client_refuses_a_page_that_is_not_the_one_asked_for():
    url = f"{DO_BASE_URL}/v2/billing/{URN}/insights/2026-04-01/2026-04-01"
    responses.get(url, json=_page([POINT], total_items=2, total_pages=2, current_page=1))
    with pytest.raises(DOBadPayload, match="current_page 2"):
        do_client().list_billing_insights(URN, APRIL_1, APRIL_1)


# -- matching: the invoice lines' matcher ---------------------------------------------------------


def test_rows_are_matched_to_resources_like_invoice_lines(emulator, emulator_client):
    web = make_resource("droplet", name="acme-web-1", first_seen_at=LONG_BEFORE)
    # Tombstoned at the start of 6 April: its days 1-6 are its cost, days 7-11 cannot be.
    old = make_resource(
        "droplet", name="acme-worker-old", first_seen_at=LONG_BEFORE, deleted_at=day(6)
    )
    cluster = make_resource("k8s_cluster", name="acme-k8s", first_seen_at=LONG_BEFORE)

    ingest(emulator_client)

    droplet = rows_of("acme-web-1 (s-1vcpu-2gb)", "1-DO-DROP")
    backup = rows_of("acme-web-1 (Weekly Backup Services)")
    assert {(r.match_status, r.resource_id) for r in droplet} == {(MatchStatus.MATCHED, web.pk)}
    assert {(r.kind, r.resource_id) for r in backup} == {("droplet_backup", web.pk)}
    worker = rows_of("acme-worker-old (s-1vcpu-1gb)")
    assert [r.match_code for r in worker] == [MatchCode.TOMBSTONED] * 6 + [MatchCode.NOT_ALIVE] * 5
    assert {r.resource_id for r in worker[:6]} == {old.pk}
    nodes = CloudDailyCost.objects.filter(group_description="acme-k8s")
    assert set(nodes.values_list("kind", "resource_id")) == {("k8s_cluster", cluster.pk)}
    unknown = rows_of("globex-api-1 (s-2vcpu-4gb)", "1-DO-DROP")
    assert {r.match_code for r in unknown} == {MatchCode.NOT_IN_INVENTORY}
    spaces = CloudDailyCost.objects.filter(sku__startswith="1-DO-SPACES").first()
    assert spaces.match_code == MatchCode.ACCOUNT_LEVEL
    # acme-web-1 and its backup, acme-worker-old, the cluster's two nodes
    assert CloudCostDay.objects.get(day=APRIL_1).matched_count == 5


def test_an_unknown_sku_is_unmatched_with_its_reason(emulator, emulator_client):
    emulator.faults.add(
        path_prefix=INSIGHTS,
        body=(
            '{"data_points": [{"start_date": "2026-04-01", "total_amount": "2.00", "sku": '
            '"9-XX-NEW-0001", "description": "thing (x)", "region": "syd1"}], '
            '"total_items": 1, "total_pages": 1, "current_page": 1}'
        ),
    )
    ingest(emulator_client, end=APRIL_1)
    row = CloudDailyCost.objects.get()
    assert (row.product, row.kind, row.match_code) == ("9-XX-NEW-0001", "other", "unknown_kind")


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (APRIL_30, APRIL_1, "end_date", "before start_date"),
        (APRIL_1, dt.date(2026, 5, 3), "end_date", "more than 31 days"),
        (dt.date(2026, 12, 20), dt.date(2027, 1, 1), "end_date", "has not ended"),
        ("2026-04-01", APRIL_30, "start_date", "must be a date"),
    ],
)
def test_a_bad_range_names_its_field_and_fetches_nothing(emulator_client, start, end, field, words):
    with pytest.raises(FieldError) as caught:
        ingest(emulator_client, start=start, end=end)
    assert caught.value.field == field and words in caught.value.message
    assert not CloudCostDay.objects.exists()


def test_a_bad_account_urn_names_its_field(emulator_client):
    with pytest.raises(FieldError) as caught:
        ingest(emulator_client, account_urn="team-42")
    assert caught.value.field == "account_urn"


def test_the_command_names_a_bad_date(billing_token, settings):
    settings.DO_BILLING_ACCOUNT_URN = URN
    with pytest.raises(CommandError, match="start_date: '2026-13-01' is not a date"):
        call_command("ingest_daily_costs", "--start", "2026-13-01", "--end", "2026-04-30")
    with pytest.raises(CommandError, match="end_date"):
        call_command("ingest_daily_costs", "--start", "2026-04-30", "--end", "2026-04-01")
    assert not CloudCostDay.objects.exists()


def test_the_command_ingests_a_range(billing_token, settings, capsys):
    settings.DO_BILLING_ACCOUNT_URN = URN
    call_command("ingest_daily_costs", "--start", "2026-04-01", "--end", "2026-04-02")
    assert "2 days" in capsys.readouterr().out
    assert set(CloudDailyCost.objects.values_list("day", flat=True)) == {
        APRIL_1,
        dt.date(2026, 4, 2),
    }


# -- the task, its schedule and the admin's re-ingest --------------------------------------------


def test_the_nightly_task_takes_the_month_of_yesterday(billing_token, settings):
    settings.DO_BILLING_ACCOUNT_URN = URN
    result = ingest_daily_costs("2026-04-01", "2026-04-03")
    assert (result["status"], result["days"]) == ("ingested", 3)
    assert daily_default_range(dt.date(2026, 5, 1)) == (APRIL_1, APRIL_30)
    assert daily_default_range(dt.date(2026, 4, 17)) == (APRIL_1, dt.date(2026, 4, 16))
    assert "billing.ingest_daily_costs" in {spec.task for spec in SCHEDULES}


def test_the_task_without_an_account_urn_does_nothing(billing_token, settings):
    settings.DO_BILLING_ACCOUNT_URN = ""
    assert ingest_daily_costs() == {"skipped": NO_ACCOUNT_URN}
    assert not CloudCostDay.objects.exists()


def test_the_task_reports_refused_data_points_without_raising(billing_token, settings):
    settings.DO_BILLING_ACCOUNT_URN = URN
    billing_token.faults.add(
        path_prefix=INSIGHTS,
        body='{"data_points": [1], "total_items": 1, "total_pages": 1, "current_page": 1}',
    )
    result = ingest_daily_costs("2026-04-01", "2026-04-01")
    assert result["status"] == "failed" and "data_points[0]" in result["error"]


def test_re_ingesting_days_queues_one_task_per_run_of_days(django_capture_on_commit_callbacks):
    days = [APRIL_1, dt.date(2026, 4, 2), dt.date(2026, 4, 3), dt.date(2026, 4, 9)]
    with django_capture_on_commit_callbacks() as callbacks:
        ranges = daily_costs_ingest_enqueue(days=days)
    assert ranges == [(APRIL_1, dt.date(2026, 4, 3)), (dt.date(2026, 4, 9), dt.date(2026, 4, 9))]
    assert len(callbacks) == 2
