"""COGS API: platform_admin only, period validation, bounded queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import CloudBalanceSnapshot
from tests.billing.factories import make_invoice, make_line
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/billing/balance"
COST_LINES = "/api/v1/billing/cost-lines"
INVOICES = "/api/v1/billing/invoices"


@pytest.fixture
def april():
    invoice = make_invoice(line_count=3, matched_count=1, unmatched_count=1, ambiguous_count=1)
    droplet = make_resource(name="web-1", tenant_id="acme")
    make_line(invoice, resource=droplet)
    make_line(invoice, kind="volume", product="Volumes", description="data (10 GiB)")
    make_line(
        invoice,
        kind="other",
        product="Taxes",
        description="GST (10%)",
        is_tax=True,
        hours=None,
        amount=Decimal("1.20"),
        match_code="tax",
        match_reason="tax line",
    )
    make_invoice(period=dt.date(2026, 3, 1))
    return invoice


@pytest.mark.parametrize("url", [BALANCE, f"{COST_LINES}?period=2026-04", INVOICES])
def test_tenants_are_refused_and_anonymous_callers_unauthenticated(
    url, tenant_a_api, anon_api, gateway_api
):
    assert tenant_a_api.get(url).status_code == 403
    assert gateway_api.get(url).status_code == 403
    response = anon_api.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_balance_is_404_until_a_snapshot_exists(admin_api):
    response = admin_api.get(BALANCE)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_balance_returns_the_latest_snapshot(admin_api):
    CloudBalanceSnapshot.objects.create(
        month_to_date_balance=Decimal("10.00"),
        account_balance=Decimal("0"),
        month_to_date_usage=Decimal("10.00"),
        fetched_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    )
    CloudBalanceSnapshot.objects.create(
        month_to_date_balance=Decimal("238.41"),
        account_balance=Decimal("-5.00"),
        month_to_date_usage=Decimal("238.41"),
        fetched_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
    )
    body = admin_api.get(BALANCE).json()
    assert body["month_to_date_balance"] == "238.4100"
    assert body["account_balance"] == "-5.0000"
    assert body["currency"] == "USD"


@pytest.mark.parametrize(
    "query", ["", "?period=", "?period=2026-13", "?period=2026-04-15", "?period=x"]
)
def test_cost_lines_need_a_valid_period(admin_api, query):
    response = admin_api.get(f"{COST_LINES}{query}")
    assert response.status_code == 400
    assert "period" in response.json()["error"]["fields"]


@pytest.mark.parametrize("query", ["limit=0", "limit=5001", "limit=x", "kind=spaceship"])
def test_cost_lines_refuse_bad_filters_by_name(admin_api, query):
    response = admin_api.get(f"{COST_LINES}?period=2026-04&{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["error"]["fields"]


@pytest.mark.parametrize("period", ["2026-04", "2026-04-01"])
def test_cost_lines_of_a_period(admin_api, april, period):
    body = admin_api.get(f"{COST_LINES}?period={period}").json()
    assert (body["period"], body["count"], body["limit"], body["truncated"]) == (
        "2026-04-01",
        3,
        500,
        False,
    )
    first, second, tax = body["results"]
    assert first["resource"]["name"] == "web-1"
    assert first["resource"]["tenant_id"] == "acme"
    assert (first["amount"], first["currency"], first["match_status"]) == (
        "6.0000",
        "USD",
        "matched",
    )
    assert second["resource"] is None
    assert (tax["is_tax"], tax["hours"], tax["match_code"]) == (True, None, "tax")


def test_cost_lines_filters_and_limit(admin_api, april):
    body = admin_api.get(f"{COST_LINES}?period=2026-04&kind=volume").json()
    assert [line["kind"] for line in body["results"]] == ["volume"]
    body = admin_api.get(f"{COST_LINES}?period=2026-04&match_status=matched").json()
    assert body["count"] == 1
    body = admin_api.get(f"{COST_LINES}?period=2026-04&limit=2").json()
    assert (body["count"], len(body["results"]), body["truncated"]) == (3, 2, True)
    assert admin_api.get(f"{COST_LINES}?period=2026-03").json()["count"] == 0


def test_cost_lines_query_count_is_bounded(admin_api, april, django_assert_max_num_queries):
    for number in range(40):
        resource = make_resource(name=f"bulk-{number}")
        make_line(april, resource=resource)
    with django_assert_max_num_queries(2):
        response = admin_api.get(f"{COST_LINES}?period=2026-04")
    assert response.json()["count"] == 43


def test_invoices_list_with_match_statistics(admin_api, april, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        body = admin_api.get(INVOICES).json()
    assert body["count"] == 2
    newest = body["results"][0]
    assert (newest["invoice_uuid"], newest["period"]) == (april.invoice_uuid, "2026-04-01")
    assert (newest["matched_count"], newest["unmatched_count"], newest["ambiguous_count"]) == (
        1,
        1,
        1,
    )
    assert admin_api.get(f"{INVOICES}?period=2026-03").json()["count"] == 1
    assert "period" in admin_api.get(f"{INVOICES}?period=nope").json()["error"]["fields"]


def test_invoice_detail_has_the_match_report(admin_api, april, tenant_a_api):
    url = f"{INVOICES}/{april.invoice_uuid}"
    body = admin_api.get(url).json()
    assert body["invoice"]["invoice_uuid"] == april.invoice_uuid
    report = body["match_report"]
    assert (report["line_count"], report["matched"], report["unmatched"]) == (3, 1, 2)
    codes = {(g["status"], g["code"]): g for g in report["groups"]}
    assert codes[("unmatched", "tax")]["examples"] == ["tax line"]
    assert codes[("matched", "live")]["examples"] == []
    assert admin_api.get(f"{INVOICES}/unknown").status_code == 404
    assert tenant_a_api.get(url).status_code == 403


def test_cost_lines_page_through_the_month_by_cursor(admin_api, april):
    everything = admin_api.get(f"{COST_LINES}?period=2026-04").json()
    assert everything["next"] is None
    seen, url, pages = [], f"{COST_LINES}?period=2026-04&limit=1", 0
    while url and pages < 10:  # a cursor that did not move on would loop
        body = admin_api.get(url).json()
        pages += 1
        assert body["count"] == 3  # the month's, on every page
        assert body["truncated"] == (body["next"] is not None)
        seen += body["results"]
        url = body["next"]
    assert pages == 3
    assert seen == everything["results"]


def test_a_cost_line_cursor_keeps_the_filters(admin_api, april):
    for number in range(4):
        make_line(april, resource=make_resource(name=f"more-{number}"))
    first = admin_api.get(f"{COST_LINES}?period=2026-04&match_status=matched&limit=2").json()
    second = admin_api.get(first["next"]).json()
    assert [line["match_status"] for line in first["results"] + second["results"]] == [
        "matched"
    ] * 4
    assert len({line["line_number"] for line in first["results"] + second["results"]}) == 4


@pytest.mark.parametrize("cursor", ["x", "WzEsIDJd" * 300, "WyJhIiwgMV0", "W10"])
def test_a_bad_cost_line_cursor_is_a_400_naming_it(admin_api, april, cursor):
    response = admin_api.get(f"{COST_LINES}?period=2026-04&cursor={cursor}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["cursor"]


def test_a_late_cost_line_page_costs_what_the_first_does(
    admin_api, april, django_assert_max_num_queries
):
    for number in range(40):
        make_line(april, resource=make_resource(name=f"bulk-{number}"))
    url = f"{COST_LINES}?period=2026-04&limit=5"
    for _ in range(5):
        url = admin_api.get(url).json()["next"]
    with django_assert_max_num_queries(2):  # the count and the page
        body = admin_api.get(url).json()
    assert len(body["results"]) == 5
