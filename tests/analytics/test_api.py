"""Dashboard API: platform_admin only, `period` validated, money as cents, bounded queries."""

from __future__ import annotations

import pytest

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import month_start
from tests.analytics.factories import (
    APRIL,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    resource_for,
    subscribe,
    tax_cost_line,
)
from tests.conftest import TENANT_A
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db

MARGIN = "/api/v1/dashboard/margin"
BY_KIND = "/api/v1/dashboard/by-kind"
ACCRUAL = "/api/v1/dashboard/accrual"


@pytest.fixture
def april():
    deployment = make_deployment(tenant_id=TENANT_A)
    make_tenant_invoice(
        TENANT_A,
        [line("plan_base", 5000, deployment), line("overage", 2112, deployment, "droplet_hours")],
    )
    do_invoice = cost_invoice()
    cost_line(do_invoice, "30.00", resource=resource_for(deployment=deployment))
    cost_line(do_invoice, "1.50")
    tax_cost_line(do_invoice, "3.15")
    make_rate(APRIL, "1.5")
    return deployment


@pytest.mark.parametrize(
    "url",
    [
        f"{MARGIN}?period=2026-04",
        f"{MARGIN}?period=2026-04&page_size=2&after=tenant-a",
        f"{BY_KIND}?period=2026-04",
        ACCRUAL,
    ],
)
def test_only_platform_admins_may_read_the_dashboard(url, tenant_a_api, gateway_api, anon_api):
    assert tenant_a_api.get(url).status_code == 403
    assert gateway_api.get(url).status_code == 403
    response = anon_api.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("url", [MARGIN, BY_KIND])
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "is required"),
        ("?period=", "is required"),
        ("?period=April", "not a period"),
        ("?period=2026-13", "not a valid date"),
        ("?period=2026-04-15", "not the first day of a month"),
    ],
)
def test_a_missing_or_bad_period_is_a_400_naming_it(url, query, message, admin_api):
    response = admin_api.get(url + query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["period"]
    assert message in error["fields"]["period"][0]


@pytest.mark.parametrize("period", ["2026-04", "2026-04-01"])
def test_margin_reports_cents_with_currency_and_percent_strings(period, april, admin_api):
    response = admin_api.get(f"{MARGIN}?period={period}")

    assert response.status_code == 200
    body = response.json()
    assert body["period"] == "2026-04-01"
    assert body["overall"] == {
        "currency": "AUD",
        "revenue_cents": 7112,
        "cogs_usd_cents": 3150,
        "cogs_cents": 4725,
        "margin_cents": 2387,
        "margin_percent": "33.56",
        "revenue_by_currency": [{"currency": "AUD", "revenue_cents": 7112}],
        "unavailable_reason": None,
    }
    assert body["tenants"] == [
        {
            "currency": "AUD",
            "revenue_cents": 7112,
            "cogs_usd_cents": 3000,
            "cogs_cents": 4500,
            "margin_cents": 2612,
            "margin_percent": "36.73",
            "tenant_id": TENANT_A,
        }
    ]
    assert body["deployments"][0]["deployment_id"] == april.pk
    assert body["unattributed"] == {
        "lines": 1,
        "currency": "AUD",
        "cogs_usd_cents": 150,
        "cogs_cents": 225,
    }
    assert body["fx"] == [
        {
            "from_currency": "USD",
            "to_currency": "AUD",
            "available": True,
            "rate": "1.50000000",
            "rate_period": "2026-04-01",
            "direction": "USD→AUD",
            "inverted": False,
            "reason": None,
            "note": "COGS converted USD→AUD at 1 USD = 1.5 AUD, entered for 2026-04.",
        }
    ]


def test_margin_without_a_rate_is_null_with_the_reason(april, admin_api):
    body = admin_api.get(f"{MARGIN}?period=2026-05").json()
    assert body["overall"]["margin_percent"] is None
    empty_with_rate = admin_api.get(f"{MARGIN}?period=2026-03").json()
    assert empty_with_rate["fx"][0]["available"] is False
    assert empty_with_rate["fx"][0]["reason"].startswith("no USD→AUD rate at or before 2026-03")
    assert empty_with_rate["overall"]["margin_cents"] is None


def test_by_kind_returns_two_separate_lists(april, admin_api):
    body = admin_api.get(f"{BY_KIND}?period=2026-04").json()
    assert body["revenue"] == [
        {"kind": "plan_base", "currency": "AUD", "revenue_cents": 5000, "lines": 1},
        {"kind": "droplet_hours", "currency": "AUD", "revenue_cents": 2112, "lines": 1},
    ]
    assert body["cogs"] == [
        {
            "kind": "droplet",
            "currency": "AUD",
            "cogs_usd_cents": 3150,
            "cogs_cents": 4725,
            "lines": 2,
        }
    ]
    assert body["fx"]["rate"] == "1.50000000"


def test_accrual_prices_this_month_so_far(admin_api):
    subscribe(TENANT_A, starts_on=month_start(utc_today()), droplets=0)

    response = admin_api.get(ACCRUAL)

    assert response.status_code == 200
    body = response.json()
    assert body["period"] == month_start(utc_today()).isoformat()
    assert body["tenants"] == [
        {
            "currency": "AUD",
            "subscriptions": 1,
            "recurring_cents": 5000,
            "usage_cents": 0,
            "llm_cents": 0,
            "late_usage_cents": 0,
            "subtotal_cents": 5000,
            "tenant_id": TENANT_A,
        }
    ]
    assert body["totals"][0]["subtotal_cents"] == 5000
    assert body["cogs_to_date"]["usd_cents"] is None
    assert body["cogs_to_date"]["reason"]


@pytest.mark.parametrize("tenants", [2, 20])
def test_margin_queries_do_not_grow_with_tenants(tenants, admin_api, django_assert_max_num_queries):
    _tenants_with_costs({f"tenant-{number}": 5000 for number in range(tenants)})

    with django_assert_max_num_queries(4):  # revenue, the COGS source, COGS, the rate
        response = admin_api.get(f"{MARGIN}?period=2026-04")

    assert len(response.json()["tenants"]) == tenants


def _tenants_with_costs(plan_cents: dict[str, int]):
    """Per tenant a deployment invoiced its plan (cents) and USD 3.00 of DigitalOcean cost on
    a droplet of it; a USD→AUD rate of 1.5. Returns the DigitalOcean invoice."""
    do_invoice = cost_invoice()
    for tenant_id, cents in plan_cents.items():
        deployment = make_deployment(tenant_id=tenant_id)
        make_tenant_invoice(tenant_id, [line("plan_base", cents, deployment)])
        cost_line(do_invoice, "3.00", resource=resource_for(deployment=deployment))
    make_rate(APRIL, "1.5")
    return do_invoice


def _four_tenants():
    do_invoice = _tenants_with_costs({f"tenant-{n}": 1000 * (n + 1) for n in range(4)})
    cost_line(do_invoice, "1.25")  # unattributed


def test_margin_pages_carry_the_whole_periods_figures_and_a_page_of_tenants(admin_api):
    _four_tenants()
    full = admin_api.get(f"{MARGIN}?period=2026-04").json()
    assert full["next_after"] is None
    assert full["overall"]["revenue_cents"] == 10000  # 1,000 + 2,000 + 3,000 + 4,000

    first = admin_api.get(f"{MARGIN}?period=2026-04&page_size=3").json()
    page = ["tenant-0", "tenant-1", "tenant-2"]
    assert [row["tenant_id"] for row in first["tenants"]] == page
    assert [row["tenant_id"] for row in first["deployments"]] == page
    assert first["tenants"] == full["tenants"][:3]
    assert first["next_after"] == "tenant-2"
    assert (first["overall"], first["unattributed"]) == (full["overall"], full["unattributed"])
    assert first["unattributed"]["cogs_usd_cents"] == 125

    last = admin_api.get(f"{MARGIN}?period=2026-04&page_size=3&after=tenant-2").json()
    assert [row["tenant_id"] for row in last["tenants"]] == ["tenant-3"]
    assert last["tenants"][0] == full["tenants"][3]
    assert last["next_after"] is None
    assert last["overall"] == full["overall"]

    # `after` alone pages with the default size; past the last tenant, an empty page.
    beyond = admin_api.get(f"{MARGIN}?period=2026-04&after=tenant-9").json()
    assert (beyond["tenants"], beyond["deployments"], beyond["next_after"]) == ([], [], None)
    assert beyond["overall"] == full["overall"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("&page_size=0", "page_size"),
        ("&page_size=501", "page_size"),
        ("&page_size=ten", "page_size"),
        ("&after=" + "t" * 201, "after"),
    ],
)
def test_a_bad_page_of_the_margin_is_a_400_naming_it(query, field, admin_api):
    response = admin_api.get(f"{MARGIN}?period=2026-04{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


@pytest.mark.parametrize("tenants", [4, 40])
def test_a_margin_page_reads_the_same_few_rows_however_many_tenants(
    tenants, admin_api, django_assert_max_num_queries
):
    _tenants_with_costs({f"tenant-{number:02d}": 5000 for number in range(tenants)})

    # the COGS source; the page's tenants (revenue's, the month's invoices, each invoice's);
    # their revenue, COGS; the overall revenue, COGS and unattributed COGS; the rate
    with django_assert_max_num_queries(10):
        response = admin_api.get(f"{MARGIN}?period=2026-04&page_size=2")

    body = response.json()
    assert [row["tenant_id"] for row in body["tenants"]] == ["tenant-00", "tenant-01"]
    assert body["overall"]["revenue_cents"] == 5000 * tenants
