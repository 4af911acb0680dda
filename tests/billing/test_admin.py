"""Operators' admin: invoices with lines, counts and errors; re-ingest and push actions."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from arcadia_cloud.roles import FINANCE, OPERATORS, sync_group_permissions
from billing.models import CloudCostDay, CloudCostLine, CloudInvoice
from tests.billing.factories import (
    DO_BASE_URL,
    PERIOD,
    PERIOD_START,
    invoice_csv,
    line,
    make_daily_cost,
    make_invoice,
    make_line,
    serve_invoice,
)
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

INVOICES = reverse("admin:billing_cloudinvoice_changelist")
LINES = reverse("admin:billing_cloudcostline_changelist")
FINANCE_URL = "https://finance.test"


@pytest.fixture
def invoice():
    invoice = make_invoice(
        line_count=2,
        matched_count=1,
        unmatched_count=1,
        lines_ingested_at=timezone.now(),
        last_error="finance rejected the invoice: HTTP 422 'period is closed'",
    )
    make_line(invoice, resource=make_resource(name="web-1"))
    make_line(invoice, match_reason="no droplet named 'ghost' in inventory")
    return invoice


def test_invoice_list_shows_counts_errors_and_finance_status(admin_client, invoice):
    page = admin_client.get(INVOICES).content.decode()
    assert invoice.invoice_uuid in page
    assert "period is closed" in page
    assert "not pushed" in page


def test_invoice_page_shows_lines_inline_and_the_match_report(admin_client, invoice):
    url = reverse("admin:billing_cloudinvoice_change", args=[invoice.pk])
    page = admin_client.get(url).content.decode()
    assert "web-2 (s-1vcpu-1gb)" in page  # an inline line
    assert "no droplet named &#x27;ghost&#x27; in inventory" in page  # report example
    assert f"?invoice__id__exact={invoice.pk}" in page


@pytest.fixture
def two_months_of_lines(invoice):
    """April's invoice (the fixture's matched and unmatched droplets) plus a volume and a tax
    line; March's invoice with one matched droplet. Lines are named `<period>/<line number>`."""
    make_line(
        invoice,
        product="Volumes",
        kind="volume",
        resource=make_resource("volume", name="data-3"),
        description="data-3",
    )
    make_line(
        invoice,
        product="Taxes",
        kind="",
        is_tax=True,
        match_status="unmatched",
        match_code="tax",
        match_reason="tax line",
    )
    march = make_invoice(period=PERIOD.replace(month=3), issued_at=PERIOD_START)
    make_line(march, resource=make_resource(name="web-9"), match_code="tombstoned")
    return invoice, march


def shown(response) -> list[str]:
    assert response.status_code == 200
    return [
        f"{line.invoice.period:%Y-%m}/{line.line_number}"
        for line in response.context["cl"].result_list
    ]


@pytest.mark.parametrize(
    ("query", "lines"),
    [
        ("", ["2026-04/1", "2026-04/2", "2026-04/3", "2026-04/4", "2026-03/1"]),
        ("?match_status__exact=unmatched", ["2026-04/2", "2026-04/4"]),
        ("?match_status__exact=matched", ["2026-04/1", "2026-04/3", "2026-03/1"]),
        ("?kind__exact=droplet", ["2026-04/1", "2026-04/2", "2026-03/1"]),
        ("?kind__exact=volume", ["2026-04/3"]),
        ("?is_tax__exact=1", ["2026-04/4"]),
        ("?is_tax__exact=0", ["2026-04/1", "2026-04/2", "2026-04/3", "2026-03/1"]),
        ("?period=2026-04-01", ["2026-04/1", "2026-04/2", "2026-04/3", "2026-04/4"]),
        ("?period=2026-03-01", ["2026-03/1"]),
        ("?match_code__exact=live", ["2026-04/1", "2026-04/3"]),
        ("?match_code__exact=tombstoned", ["2026-03/1"]),
        ("?period=2026-04-01&kind__exact=droplet&match_status__exact=matched", ["2026-04/1"]),
    ],
)
def test_cost_line_filters_show_exactly_the_lines_they_name(
    admin_client, two_months_of_lines, query, lines
):
    assert shown(admin_client.get(f"{LINES}{query}")) == lines


def test_the_period_filter_offers_each_invoice_period_newest_first(
    admin_client, two_months_of_lines
):
    response = admin_client.get(LINES)
    [period_filter] = [
        f for f in response.context["cl"].filter_specs if f.title == "invoice period"
    ]
    assert period_filter.lookup_choices == [("2026-04-01", "2026-04"), ("2026-03-01", "2026-03")]


def test_cost_line_list_links_from_the_invoice(admin_client, invoice):
    response = admin_client.get(f"{LINES}?invoice__id__exact={invoice.pk}")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2


def test_balance_list_renders(admin_client):
    assert (
        admin_client.get(reverse("admin:billing_cloudbalancesnapshot_changelist")).status_code
        == 200
    )


def test_nothing_is_editable(admin_client, invoice):
    assert admin_client.get(reverse("admin:billing_cloudinvoice_add")).status_code == 403
    line = CloudCostLine.objects.first()
    url = reverse("admin:billing_cloudcostline_delete", args=[line.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403


def test_reingest_action_queues_the_ingest(
    admin_client, settings, django_capture_on_commit_callbacks
):
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING, settings.FINANCE_URL = DO_BASE_URL, "t", ""
    invoice = make_invoice()
    with responses.RequestsMock() as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, invoice_csv([line(), line()]))
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                INVOICES, {"action": "reingest_selected", "_selected_action": [invoice.pk]}
            )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.line_count, invoice.lines_ingested_at is not None) == (2, True)


def test_push_action_queues_the_push_of_ingested_invoices(
    admin_client, invoice, settings, django_capture_on_commit_callbacks
):
    settings.FINANCE_URL = FINANCE_URL
    pending = make_invoice()
    with responses.RequestsMock() as finance:
        finance.post(
            f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice",
            json={"status": "created", "id": 77},
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                INVOICES,
                {
                    "action": "push_selected_to_finance",
                    "_selected_action": [invoice.pk, pending.pk],
                },
                follow=True,
            )
    assert "1 not ingested yet: skipped" in response.content.decode()
    invoice.refresh_from_db()
    assert (invoice.finance_invoice_id, invoice.last_error) == ("77", "")
    assert CloudInvoice.objects.get(pk=pending.pk).pushed_to_finance_at is None


def test_a_failing_reingest_does_not_break_the_admin(
    admin_client, settings, django_capture_on_commit_callbacks
):
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING = DO_BASE_URL, "t"
    invoice = make_invoice()
    with responses.RequestsMock() as do_api:
        do_api.get(
            f"{DO_BASE_URL}/v2/customers/my/invoices/{invoice.invoice_uuid}/summary",
            status=403,
            json={"id": "forbidden", "message": "You do not have access for the attempted action."},
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                INVOICES, {"action": "reingest_selected", "_selected_action": [invoice.pk]}
            )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert "403" in invoice.last_error


# -- who may re-ingest and push ------------------------------------------------------------------


def staff_client(group: str) -> Client:
    sync_group_permissions()
    user = get_user_model().objects.create_user(f"{group}-1", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def offered_actions(client: Client) -> set[str]:
    form = client.get(INVOICES).context["action_form"]  # None when no action is offered
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


@pytest.mark.parametrize(
    "action", ["reingest_selected", "push_selected_to_finance", "force_push_selected_to_finance"]
)
def test_finance_can_neither_reingest_nor_push(
    invoice, settings, django_capture_on_commit_callbacks, action
):
    """A finance clerk sees the invoices but is offered no action, and a hand-made POST of one
    runs nothing: no request reaches DigitalOcean or finance, the lines stay."""
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING = DO_BASE_URL, "t"
    settings.FINANCE_URL = FINANCE_URL
    finance = staff_client(FINANCE)
    assert offered_actions(finance) == set()
    lines = list(CloudCostLine.objects.filter(invoice=invoice).values_list("pk", "amount"))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        serve_invoice(http, invoice.invoice_uuid, invoice_csv([]), amount="0.00")
        http.post(f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice", json={"id": 1})
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = finance.post(
                INVOICES, {"action": action, "index": "0", "_selected_action": [invoice.pk]}
            )
        assert len(http.calls) == 0  # nothing queued, nothing sent

    assert response.status_code == 200  # the list again: finance has no action to run
    assert callbacks == []
    assert list(CloudCostLine.objects.filter(invoice=invoice).values_list("pk", "amount")) == lines
    assert CloudInvoice.objects.get(pk=invoice.pk).pushed_to_finance_at is None


def test_operators_can_reingest_and_push(settings, django_capture_on_commit_callbacks):
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING, settings.FINANCE_URL = DO_BASE_URL, "t", ""
    operator = staff_client(OPERATORS)
    assert offered_actions(operator) == {
        "reingest_selected",
        "push_selected_to_finance",
        "force_push_selected_to_finance",
    }
    invoice = make_invoice()
    with responses.RequestsMock() as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, invoice_csv([line(), line()]))
        with django_capture_on_commit_callbacks(execute=True):
            response = operator.post(
                INVOICES,
                {"action": "reingest_selected", "index": "0", "_selected_action": [invoice.pk]},
            )
    assert response.status_code == 302
    assert CloudInvoice.objects.get(pk=invoice.pk).line_count == 2


# -- daily costs (issue 18) ----------------------------------------------------------------------


def test_invoice_page_reconciles_the_daily_costs_per_kind(admin_client, invoice):
    make_daily_cost(PERIOD, "6.04")  # the invoice's two droplet lines are 6.00 each
    make_daily_cost(PERIOD, "0.50", kind="volume", product="Volumes")
    url = reverse("admin:billing_cloudinvoice_change", args=[invoice.pk])
    page = admin_client.get(url).content.decode()
    section = page[page.index("Daily costs against this invoice") :]
    assert "1 of 30 days of daily costs." in section
    # droplet: 6.04 daily against 12.00 invoiced; volume: 0.50 against nothing; total 6.54
    for cells in (
        "<td>droplet</td><td>6.04</td><td>12.00</td><td>-5.96</td>",
        "<td>volume</td><td>0.50</td><td>0.00</td><td>+0.50</td>",
        "<td>total</td><td>6.54</td><td>12.00</td><td>-5.46</td>",
    ):
        assert cells in section


def test_cost_days_list_their_errors_and_link_their_rows(admin_client):
    from billing.models import CloudCostDay

    make_daily_cost(PERIOD, "1.00")
    CloudCostDay.objects.filter(day=PERIOD).update(
        row_count=1, last_error="daily cost ingest failed, previous rows kept: HTTP 500"
    )
    page = admin_client.get(reverse("admin:billing_cloudcostday_changelist")).content.decode()
    assert "previous rows kept: HTTP 500" in page
    assert f"?day={PERIOD}" in page
    rows = admin_client.get(
        reverse("admin:billing_clouddailycost_changelist") + f"?day={PERIOD}"
    ).content.decode()
    assert "web-1 (s-1vcpu-1gb)" in rows


def test_re_ingesting_days_from_the_admin_queues_the_task(
    admin_client, django_capture_on_commit_callbacks
):
    CloudCostDay.objects.create(day=PERIOD)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:billing_cloudcostday_changelist"),
            {
                "action": "reingest_selected",
                "_selected_action": [str(CloudCostDay.objects.get().pk)],
            },
            follow=True,
        )
    assert "Queued the ingest of 1 day(s) in 1 request(s)." in response.content.decode()
    assert len(callbacks) == 1
