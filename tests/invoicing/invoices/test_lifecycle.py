"""Invoice status changes (SPEC §13): issue, mark paid, void — and what stays frozen."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from arcadia_cloud.errors import InvalidStateChange
from arcadia_cloud.validation import FieldError
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid, invoice_void
from invoicing.models import InvoiceNumberCounter, InvoiceStatus, TenantInvoice, TenantInvoiceLine
from tests.catalog.concurrency import run_concurrently
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import make_invoice

pytestmark = pytest.mark.django_db


def this_year() -> int:
    return timezone.now().astimezone(dt.UTC).year


def test_issue_assigns_the_next_number_of_the_year_and_records_who(settings):
    settings.INVOICE_NUMBER_PREFIX = "ARC"
    first = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops:alice")
    second = invoice_issue(invoice=make_invoice(TENANT_B), actor="ops:alice")

    year = this_year()
    assert (first.number, second.number) == (f"ARC-{year}-000001", f"ARC-{year}-000002")
    assert first.status == InvoiceStatus.ISSUED and first.issued_at is not None
    event = first.events.get()
    assert (event.type, event.actor, event.details) == (
        "issued",
        "ops:alice",
        {"number": f"ARC-{year}-000001", "due_on": first.due_on.isoformat()},
    )
    assert InvoiceNumberCounter.objects.get(prefix="ARC", year=year).last_number == 2


def test_mark_paid_only_after_issue():
    invoice = make_invoice(TENANT_A)

    with pytest.raises(InvalidStateChange) as caught:
        invoice_mark_paid(invoice=invoice, actor="ops")

    assert caught.value.extra["allowed"] == ["issue", "void"]
    issued = invoice_issue(invoice=invoice, actor="ops")
    paid_at = issued.issued_at
    paid = invoice_mark_paid(invoice=issued, actor="finance:fay", paid_at=paid_at)
    assert (paid.status, paid.paid_at) == (InvoiceStatus.PAID, paid_at)
    assert paid.events.last().type == "paid"


def test_paid_at_cannot_be_in_the_future():
    issued = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    with pytest.raises(FieldError) as caught:
        invoice_mark_paid(
            invoice=issued, actor="ops", paid_at=timezone.now() + dt.timedelta(days=1)
        )

    assert "paid_at" in caught.value.fields


def _issued_on(day: dt.date) -> TenantInvoice:
    """An invoice issued at 09:30 UTC on `day` (the time set on the row as issue would)."""
    invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")
    issued_at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)
    TenantInvoice.objects.filter(pk=invoice.pk).update(issued_at=issued_at)
    invoice.refresh_from_db()
    return invoice


@pytest.mark.parametrize(
    "paid_at",
    [
        dt.datetime(1999, 3, 1, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 5, 31, 23, 59, tzinfo=dt.UTC),  # the evening before the issue day
        dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=10))),  # 31 May UTC
    ],
)
def test_a_payment_cannot_predate_the_issue_day(paid_at):
    invoice = _issued_on(dt.date(2026, 6, 1))

    with pytest.raises(FieldError) as caught:
        invoice_mark_paid(invoice=invoice, actor="ops", paid_at=paid_at)

    assert list(caught.value.fields) == ["paid_at"]
    assert "2026-06-01" in caught.value.fields["paid_at"][0]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == (InvoiceStatus.ISSUED, None)
    assert not invoice.events.filter(type="paid").exists()


def test_a_payment_on_the_issue_day_is_accepted_whatever_the_hour():
    """Bank feeds give a day: a payment dated the issue day counts, even at 00:00."""
    invoice = _issued_on(dt.date(2026, 6, 1))
    midnight = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

    paid = invoice_mark_paid(invoice=invoice, actor="ops", paid_at=midnight)

    assert (paid.status, paid.paid_at) == (InvoiceStatus.PAID, midnight)


def test_the_future_leeway_is_a_setting(settings):
    settings.INVOICE_PAID_AT_LEEWAY_SECONDS = 300
    invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")
    four_minutes_ahead = timezone.now() + dt.timedelta(minutes=4)
    settings.INVOICE_PAID_AT_LEEWAY_SECONDS = 60

    with pytest.raises(FieldError) as caught:
        invoice_mark_paid(invoice=invoice, actor="ops", paid_at=four_minutes_ahead)
    assert "1 minute ahead" in caught.value.fields["paid_at"][0]

    settings.INVOICE_PAID_AT_LEEWAY_SECONDS = 300
    paid = invoice_mark_paid(invoice=invoice, actor="ops", paid_at=four_minutes_ahead)
    assert paid.paid_at == four_minutes_ahead


def test_a_paid_at_without_a_time_zone_is_refused():
    invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    with pytest.raises(FieldError) as caught:
        invoice_mark_paid(invoice=invoice, actor="ops", paid_at=dt.datetime(2026, 6, 2, 10, 0))

    assert list(caught.value.fields) == ["paid_at"]


def test_void_requires_a_reason():
    invoice = make_invoice(TENANT_A)

    for blank in ("", "   ", None):
        with pytest.raises(FieldError) as caught:
            invoice_void(invoice=invoice, actor="ops", reason=blank)
        assert list(caught.value.fields) == ["reason"]
    assert TenantInvoice.objects.get(pk=invoice.pk).status == InvoiceStatus.DRAFT


def test_an_issued_invoice_voided_keeps_its_number():
    issued = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    voided = invoice_void(invoice=issued, actor="ops:alice", reason="  billed the wrong plan ")

    assert (voided.status, voided.number) == (InvoiceStatus.VOID, issued.number)
    assert voided.void_reason == "billed the wrong plan"
    assert voided.events.last().details == {"reason": "billed the wrong plan", "was": "issued"}


def test_a_draft_can_be_voided_without_ever_getting_a_number():
    voided = invoice_void(invoice=make_invoice(TENANT_A), actor="ops", reason="duplicate")

    assert (voided.status, voided.number) == (InvoiceStatus.VOID, None)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("issued", "issue"),
        ("paid", "issue"),
        ("paid", "void"),
        ("paid", "mark_paid"),
        ("void", "issue"),
        ("void", "mark_paid"),
        ("void", "void"),
    ],
)
def test_moves_off_the_map_are_422_naming_what_is_allowed(status, action):
    invoice = make_invoice(TENANT_A)
    invoice = invoice_issue(invoice=invoice, actor="ops") if status != "draft" else invoice
    if status == "paid":
        invoice = invoice_mark_paid(invoice=invoice, actor="ops")
    if status == "void":
        invoice = invoice_void(invoice=invoice, actor="ops", reason="x")
    services = {
        "issue": lambda: invoice_issue(invoice=invoice, actor="ops"),
        "mark_paid": lambda: invoice_mark_paid(invoice=invoice, actor="ops"),
        "void": lambda: invoice_void(invoice=invoice, actor="ops", reason="again"),
    }

    with pytest.raises(InvalidStateChange) as caught:
        services[action]()

    expected = {"issued": ["mark_paid", "void"], "paid": [], "void": []}[status]
    assert caught.value.extra["allowed"] == expected
    assert "allowed from" in caught.value.message


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_issued_content_is_frozen_in_the_database():
    issued = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    lines = TenantInvoiceLine.objects.filter(invoice=issued)
    invoice = TenantInvoice.objects.filter(pk=issued.pk)
    attempts = [
        (lambda: lines.update(amount_cents=1), "its lines are frozen"),
        (lambda: lines.delete(), "its lines are frozen"),
        (lambda: invoice.update(total_cents=1, tax_cents=1), "its content is frozen"),
        (lambda: invoice.update(number="ARC-0000-999999"), "keeps its number"),
        # The ORM refuses first (its lines and events PROTECT it); the trigger refuses SQL.
        (lambda: invoice.delete(), "protected foreign keys"),
        (lambda: _sql("DELETE FROM tenant_invoices WHERE id = %s", issued.pk), "only drafts"),
    ]
    for attempt, refusal in attempts:  # each refused by its own trigger rule
        with pytest.raises(IntegrityError, match=refusal), transaction.atomic():
            attempt()

    assert TenantInvoiceLine.objects.filter(invoice=issued).count() == 2
    assert TenantInvoice.objects.get(pk=issued.pk).total_cents == issued.total_cents


def test_draft_lines_can_still_be_rewritten():
    draft = make_invoice(TENANT_A)

    assert TenantInvoiceLine.objects.filter(invoice=draft).delete()[0] == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_get_unique_consecutive_numbers(settings):
    settings.INVOICE_NUMBER_PREFIX = "ARC"
    invoices = [make_invoice(f"tenant-{n}") for n in range(8)]

    results = run_concurrently(
        *[
            lambda invoice=invoice: invoice_issue(invoice=invoice, actor="ops")
            for invoice in invoices
        ]
    )

    assert all(isinstance(result, TenantInvoice) for result in results), results
    numbers = sorted(TenantInvoice.objects.values_list("number", flat=True))
    assert numbers == [f"ARC-{this_year()}-{n:06d}" for n in range(1, 9)]


@pytest.mark.django_db(transaction=True)
def test_the_same_invoice_issued_twice_at_once_is_issued_once(settings):
    invoice = make_invoice(TENANT_A)

    results = run_concurrently(
        lambda: invoice_issue(invoice=invoice, actor="a"),
        lambda: invoice_issue(invoice=invoice, actor="b"),
    )

    assert sorted(type(result).__name__ for result in results) == [
        "InvalidStateChange",
        "TenantInvoice",
    ]
    assert InvoiceNumberCounter.objects.get().last_number == 1
