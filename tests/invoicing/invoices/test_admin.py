"""Invoices in the operators' admin: filters, totals, read-only pages, and the permission split
between operators (everything) and finance (view, mark paid, export)."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arcadia_cloud.clock import utc_today
from arcadia_cloud.roles import FINANCE, OPERATORS, sync_group_permissions
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.models import InvoiceStatus, TenantInvoice
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import MARCH, add_usage, make_invoice, subscriber

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:invoicing_tenantinvoice_changelist")


def staff_client(username: str, group: str) -> Client:
    sync_group_permissions()
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator() -> Client:
    return staff_client("olga", OPERATORS)


@pytest.fixture
def finance() -> Client:
    return staff_client("fay", FINANCE)


def action_names(response) -> set[str]:
    return {name for name, _ in response.context["action_form"].fields["action"].choices if name}


def run_action(client: Client, action: str, invoices, **extra):
    data = {"action": action, "_selected_action": [invoice.pk for invoice in invoices], **extra}
    return client.post(CHANGELIST, data)


def shown(response) -> list[tuple[str, str, str, int]]:
    """The listed invoices, in list order: tenant, period, status, subtotal."""
    assert response.status_code == 200
    return [
        (row.tenant_id, f"{row.period_start:%Y-%m}", row.status, row.subtotal_cents)
        for row in response.context["cl"].result_list
    ]


def status_of(invoice: TenantInvoice) -> str:
    return TenantInvoice.objects.get(pk=invoice.pk).status


def test_the_list_filters_and_totals_the_filtered_invoices_per_currency(operator):
    make_invoice(TENANT_A, subtotal_cents=6422, tax_cents=642)
    make_invoice(TENANT_B, subtotal_cents=1000, tax_cents=100)
    make_invoice(TENANT_A, period_start=MARCH, subtotal_cents=5, tax_cents=1)
    make_invoice("tenant-usd", subtotal_cents=2000, tax_cents=200, currency="USD")
    invoice_issue(
        invoice=make_invoice(TENANT_B, period_start=MARCH, subtotal_cents=300, tax_cents=30),
        actor="ops",
    )

    response = operator.get(CHANGELIST, {"period": "2026-04-01"})

    assert shown(response) == [
        (TENANT_A, "2026-04", "draft", 6422),
        (TENANT_B, "2026-04", "draft", 1000),
        ("tenant-usd", "2026-04", "draft", 2000),
    ]
    assert response.context["invoice_totals"] == [
        {"currency": "AUD", "count": 2, "subtotal": "74.22", "tax": "7.42", "total": "81.64"},
        {"currency": "USD", "count": 1, "subtotal": "20.00", "tax": "2.00", "total": "22.00"},
    ]
    by_tenant = operator.get(CHANGELIST, {"tenant": TENANT_A, "status__exact": "draft"})
    assert shown(by_tenant) == [
        (TENANT_A, "2026-04", "draft", 6422),
        (TENANT_A, "2026-03", "draft", 5),
    ]
    assert by_tenant.context["invoice_totals"] == [
        {"currency": "AUD", "count": 2, "subtotal": "64.27", "tax": "6.43", "total": "70.70"}
    ]
    issued = operator.get(CHANGELIST, {"status__exact": "issued"})
    assert shown(issued) == [(TENANT_B, "2026-03", "issued", 300)]
    assert issued.context["invoice_totals"][0]["total"] == "3.30"
    usd = operator.get(CHANGELIST, {"currency__exact": "USD"})
    assert shown(usd) == [("tenant-usd", "2026-04", "draft", 2000)]


def test_the_totals_cost_one_aggregate_query(operator):
    for n in range(5):
        make_invoice(f"tenant-{n}")

    with CaptureQueriesContext(connection) as captured:
        operator.get(CHANGELIST)

    aggregates = [q["sql"] for q in captured if "SUM(" in q["sql"]]
    assert len(aggregates) == 1


def test_the_invoice_page_is_read_only_with_its_lines(operator):
    invoice = make_invoice(TENANT_A)

    response = operator.get(reverse("admin:invoicing_tenantinvoice_change", args=[invoice.pk]))

    assert response.status_code == 200
    text = response.content.decode()
    assert "Volume storage (not in plan, at the list price)" in text and "GST 10%" in text
    assert 'name="_save"' not in text
    assert operator.get(reverse("admin:invoicing_tenantinvoice_add")).status_code == 403


def test_operators_get_every_action(operator):
    make_invoice(TENANT_A)

    assert action_names(operator.get(CHANGELIST)) == {
        "issue_selected",
        "mark_selected_paid",
        "void_selected",
        "regenerate_selected",
        "export_csv",
        "export_xlsx",
        "export_csv_with_lines",
        "export_xlsx_with_lines",
    }


def test_finance_may_view_mark_paid_and_export_but_not_issue_void_or_regenerate(finance):
    draft = make_invoice(TENANT_A)
    issued = invoice_issue(invoice=make_invoice(TENANT_B), actor="ops")

    page = finance.get(CHANGELIST)
    assert page.status_code == 200
    assert action_names(page) == {
        "mark_selected_paid",
        "export_csv",
        "export_xlsx",
        "export_csv_with_lines",
        "export_xlsx_with_lines",
    }
    for forbidden in ("issue_selected", "void_selected", "regenerate_selected"):
        run_action(finance, forbidden, [draft, issued], apply="1", reason="nope")
    assert (status_of(draft), status_of(issued)) == (InvoiceStatus.DRAFT, InvoiceStatus.ISSUED)

    run_action(finance, "mark_selected_paid", [issued])
    assert status_of(issued) == InvoiceStatus.PAID
    assert TenantInvoice.objects.get(pk=issued.pk).events.last().actor == "admin:fay"

    export = run_action(finance, "export_csv", [draft, issued])
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert {row["tenant_id"] for row in rows if row["type"] == "invoice"} == {TENANT_A, TENANT_B}
    assert rows[-1]["type"] == "total"


def test_operators_issue_and_mark_paid(operator):
    draft = make_invoice(TENANT_A)
    other = make_invoice(TENANT_B)

    run_action(operator, "issue_selected", [draft, other])
    run_action(operator, "mark_selected_paid", [draft])

    assert status_of(draft) == InvoiceStatus.PAID
    assert status_of(other) == InvoiceStatus.ISSUED
    numbers = TenantInvoice.objects.order_by("number").values_list("number", flat=True)
    assert all(numbers)


def test_void_asks_for_a_reason_first(operator):
    issued = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    confirmation = run_action(operator, "void_selected", [issued])
    without_reason = run_action(operator, "void_selected", [issued], apply="1", reason="")
    voided = run_action(operator, "void_selected", [issued], apply="1", reason="wrong tenant")

    assert confirmation.status_code == 200 and "reason" in confirmation.content.decode()
    assert without_reason.status_code == 200  # the form again, with its error
    assert voided.status_code == 302
    invoice = TenantInvoice.objects.get(pk=issued.pk)
    assert (invoice.status, invoice.void_reason, invoice.number) == (
        "void",
        "wrong tenant",
        issued.number,
    )


def test_regenerate_rewrites_drafts_from_current_usage(operator):
    from invoicing.invoices.rollup import roll_up_period
    from tests.invoicing.factories import APRIL, seed_catalog

    seed_catalog()
    deployment = subscriber(TENANT_A)
    roll_up_period(APRIL)
    add_usage(deployment, "droplet_hours", 1488 + 10)

    run_action(operator, "regenerate_selected", TenantInvoice.objects.all())

    invoice = TenantInvoice.objects.get()
    assert invoice.subtotal_cents == 5760
    assert invoice.events.last().actor == "admin:olga"


def test_regenerating_a_month_that_is_not_over_says_why_instead_of_failing(operator):
    """The rollup refuses the month with a field error (not an ApplicationError): the action
    reports it like any refusal."""
    this_month = utc_today().replace(day=1)
    invoice = make_invoice(TENANT_A, period_start=this_month)

    response = run_action(operator, "regenerate_selected", [invoice])

    assert response.status_code == 302
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("not over yet" in message for message in shown), shown
    assert TenantInvoice.objects.get().subtotal_cents == invoice.subtotal_cents


def test_exports_are_files_named_after_the_filters(operator):
    invoice = make_invoice(TENANT_A)

    response = operator.post(
        f"{CHANGELIST}?period=2026-04-01",
        {"action": "export_xlsx_with_lines", "_selected_action": [invoice.pk]},
    )

    assert response.status_code == 200
    assert 'filename="invoices-2026-04-lines.xlsx"' in response["Content-Disposition"]
