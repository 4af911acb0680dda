"""The margin dashboard in the admin (staff: operators and finance) and the FX rate admin."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

import analytics.admin
from analytics.models import FxRate
from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import month_start, previous_month
from arcadia_cloud.roles import FINANCE, OPERATORS
from inventory.models import CloudResource
from tests.analytics.factories import (
    APRIL,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    resource_for,
    subscribe,
)
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/analytics/margin/"
# Session, user and permissions, then a page of the margin (at most 11: its COGS source, the
# page's tenants, their revenue, COGS and slugs, the month's totals, the rate), by kind (4) and
# the live accrual (9: with the earlier invoices that may be owed late usage; 12 with the month
# so far's margin: its COGS source, COGS per tenant, the rate).
MAX_QUERIES = 31
FX_ADD = "/admin/analytics/fxrate/add/"


def staff(username: str, group: str | None = None) -> User:
    user = User.objects.create_user(username, password="secret-pass-1", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator_client(client):
    client.force_login(staff("olivia", OPERATORS))
    return client


@pytest.fixture
def april():
    profitable = make_deployment(tenant_id=TENANT_A, slug="shop")
    losing = make_deployment(tenant_id=TENANT_B, slug="lab")
    make_tenant_invoice(TENANT_A, [line("plan_base", 5000, profitable)])
    make_tenant_invoice(TENANT_B, [line("plan_base", 2000, losing)])
    do_invoice = cost_invoice()
    cost_line(do_invoice, "10.00", resource=resource_for(deployment=profitable))
    cost_line(do_invoice, "30.00", resource=resource_for(deployment=losing))
    cost_line(do_invoice, "1.00")
    make_rate(APRIL, "1.5")
    return profitable, losing


def test_the_dashboard_url_is_under_the_admin():
    assert reverse("admin:analytics_margin_changelist") == DASHBOARD


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_permission_are_refused(client):
    client.force_login(staff("intern"))
    assert client.get(DASHBOARD).status_code == 403


def test_finance_can_view_the_dashboard_and_read_rates_but_not_enter_them(client, april):
    client.force_login(staff("fiona", FINANCE))
    assert client.get(f"{DASHBOARD}?period=2026-04").status_code == 200
    assert client.get("/admin/analytics/fxrate/").status_code == 200
    assert client.get(FX_ADD).status_code == 403


def test_the_dashboard_shows_the_pnl_tables_charts_fx_note_and_accrual(operator_client, april):
    _, losing = april

    response = operator_client.get(f"{DASHBOARD}?period=2026-04")

    assert response.status_code == 200
    assert response.templates[0].name == "admin/analytics/margin/dashboard.html"
    page = response.content.decode()
    assert "Margin dashboard — April 2026" in page
    assert 'value="2026-04"' in page  # the period picker
    assert "COGS converted USD→AUD at 1 USD = 1.5 AUD, entered for 2026-04." in page
    # Overall: revenue 70.00, COGS 41.00 USD = 61.50 AUD, margin 8.50.
    overall = page[page.index('id="overall"') : page.index('id="margin-chart"')]
    for figure in ("70.00", "41.00", "61.50", "8.50", "12.14%"):
        assert figure in overall
    tenants = page[page.index('id="tenants"') : page.index('id="deployments"')]
    assert f'data-tenant="{TENANT_A}"' in tenants and f'data-tenant="{TENANT_B}"' in tenants
    assert "-25.00" in tenants  # tenant B: 20.00 - 45.00
    assert "Unattributed (1 cost line)" in tenants
    deployments = page[page.index('id="deployments"') : page.index('id="revenue-by-kind"')]
    change_url = reverse("admin:deployments_deployment_change", args=[losing.pk])
    assert f'href="{change_url}"' in deployments
    resources_url = reverse("admin:inventory_cloudresource_changelist")
    assert f'href="{resources_url}?deployment={losing.pk}"' in deployments
    # Server-drawn charts: one bar per tenant, the loss below the baseline.
    margin_chart = page[page.index('id="margin-chart"') : page.index('id="kind-chart"')]
    assert re.findall(r'<g class="bar( negative)?" data-label="([^"]+)"', margin_chart) == [
        ("", TENANT_A),
        (" negative", TENANT_B),
    ]
    kind_chart = page[page.index('id="kind-chart"') : page.index('id="tenants"')]
    assert 'data-series="Revenue (AUD)"' in kind_chart
    assert 'data-series="COGS (AUD)"' in kind_chart
    assert 'id="accrual"' in page and "Live accrual" in page
    assert "<script" not in page.split('id="margin-dashboard"')[1]  # nothing loaded or run


def test_tenant_rows_link_to_the_tenants_invoice_of_the_period(operator_client, april):
    make_tenant_invoice(TENANT_A, [line("plan_base", 1234)], period=dt.date(2026, 3, 1))
    page = operator_client.get(f"{DASHBOARD}?period=2026-04").content.decode()
    invoices = reverse("admin:invoicing_tenantinvoice_changelist")
    link = f"{invoices}?tenant={TENANT_A}&period=2026-04-01"
    assert f'href="{link.replace("&", "&amp;")}"' in page

    response = operator_client.get(link)

    assert response.status_code == 200
    shown = list(response.context["cl"].queryset)
    assert [(i.tenant_id, i.period_start) for i in shown] == [(TENANT_A, APRIL)]


def test_the_resources_link_lists_the_deployments_resources(operator_client, april):
    _, losing = april
    url = reverse("admin:inventory_cloudresource_changelist")
    response = operator_client.get(f"{url}?deployment={losing.pk}")
    assert response.status_code == 200
    shown = list(response.context["cl"].queryset)
    assert shown == list(CloudResource.objects.filter(deployment=losing))
    assert len(shown) == 1


def test_without_a_rate_the_page_says_why_and_offers_to_enter_one(operator_client, april):
    FxRate.objects.all().delete()
    page = operator_client.get(f"{DASHBOARD}?period=2026-04").content.decode()
    assert "no USD→AUD rate at or before 2026-04" in page
    assert f'href="{FX_ADD}"' in page
    assert "Not drawn: COGS cannot be converted" in page


def test_the_default_period_is_last_month_and_a_bad_one_is_reported(operator_client):
    last_month = previous_month(utc_today())
    page = operator_client.get(DASHBOARD).content.decode()
    assert f'value="{last_month:%Y-%m}"' in page

    page = operator_client.get(f"{DASHBOARD}?period=2026-04-15").content.decode()
    assert "not the first day of a month" in page
    assert f'value="{last_month:%Y-%m}"' in page


def test_only_the_dashboard_is_served(operator_client):
    assert operator_client.get(f"{DASHBOARD}add/").status_code == 404
    assert operator_client.get(f"{DASHBOARD}1/change/").status_code == 404


def test_the_admin_index_links_to_the_dashboard_for_those_who_may_see_it(client):
    client.force_login(staff("fiona", FINANCE))
    assert f'href="{DASHBOARD}"' in client.get("/admin/").content.decode()
    client.force_login(staff("intern"))
    assert 'id="margin-dashboard-link"' not in client.get("/admin/").content.decode()


def test_entering_a_rate_records_the_operator(operator_client):
    response = operator_client.post(
        FX_ADD,
        {"from_currency": "USD", "to_currency": "AUD", "period": "2026-04-01", "rate": "1.5234"},
    )
    assert response.status_code == 302
    rate = FxRate.objects.get()
    assert (rate.rate, rate.entered_by) == (Decimal("1.52340000"), "admin:olivia")


def test_a_bad_rate_is_refused_on_the_form(operator_client):
    response = operator_client.post(
        FX_ADD,
        {"from_currency": "USD", "to_currency": "AUD", "period": "2026-04-15", "rate": "1.5"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "not the first day of a month" in page
    assert "use 2026-04-01" in page
    assert not FxRate.objects.exists()


@pytest.mark.parametrize("tenants", [2, 20])
def test_the_dashboard_queries_do_not_grow_with_tenants(
    tenants, operator_client, django_assert_max_num_queries
):
    do_invoice = cost_invoice()
    for number in range(tenants):
        tenant_id = f"tenant-{number}"
        subscribed = subscribe(tenant_id, starts_on=month_start(utc_today()), droplets=1)
        make_tenant_invoice(tenant_id, [line("plan_base", 5000, subscribed.deployment)])
        cost_line(do_invoice, "3.00", resource=subscribed.droplets[0])
    make_rate(APRIL, "1.5")
    operator_client.get(DASHBOARD)  # warm the session and permission caches

    with django_assert_max_num_queries(MAX_QUERIES):
        response = operator_client.get(f"{DASHBOARD}?period=2026-04")

    assert response.content.decode().count("data-tenant=") == tenants


def test_revenue_in_two_currencies_is_shown_per_currency_without_an_overall_margin(
    operator_client, april
):
    make_tenant_invoice("kiwi", [line("plan_base", 3300)], currency="NZD")

    page = operator_client.get(f"{DASHBOARD}?period=2026-04").content.decode()

    overall = page[page.index('id="overall"') : page.index('id="margin-chart"')]
    assert "<td>AUD</td>" in overall and "<td>NZD</td>" in overall
    assert "33.00" in overall and "70.00" in overall
    assert "Margin not shown: revenue is in 2 currencies (AUD, NZD)" in overall
    assert 'id="fx-note-NZD"' in page  # no USD→NZD rate: that note says so


def test_the_dashboard_pages_its_tenants_with_the_whole_months_totals(operator_client, monkeypatch):
    monkeypatch.setattr(analytics.admin, "DASHBOARD_PAGE_TENANTS", 2)
    do_invoice = cost_invoice()
    for number in range(3):
        deployment = make_deployment(tenant_id=f"tenant-{number}")
        make_tenant_invoice(f"tenant-{number}", [line("plan_base", 1000, deployment)])
        cost_line(do_invoice, "3.00", resource=resource_for(deployment=deployment))
    make_rate(APRIL, "1.5")

    first = operator_client.get(f"{DASHBOARD}?period=2026-04").content.decode()
    assert re.findall(r'data-tenant="([^"]+)"', first) == ["tenant-0", "tenant-1"]
    next_url = re.search(r'href="([^"]+)" id="next-tenants"', first).group(1)
    assert next_url == "?period=2026-04&amp;after=tenant-1"

    second = operator_client.get(DASHBOARD + next_url.replace("&amp;", "&")).content.decode()
    assert re.findall(r'data-tenant="([^"]+)"', second) == ["tenant-2"]
    assert 'id="next-tenants"' not in second
    assert "first page" in second
    overall = second[second.index('id="overall"') : second.index('id="margin-chart"')]
    assert "30.00" in overall  # the month's revenue, AUD 30.00, on every page
