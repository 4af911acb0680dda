"""Adjustment notes: the hand-computed figure, the remainder, numbering, immutability, and the
credit consumed by the tenant's next invoice through the one pricing path."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from arcadia_cloud.errors import Conflict, InvalidStateChange
from arcadia_cloud.validation import FieldError
from customers.services import billing_profile_save
from invoicing.credit_notes.selectors import credit_available
from invoicing.credit_notes.services import credit_note_issue
from invoicing.invoices.lifecycle import invoice_void
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import CreditNote, CreditNoteLine, InvoiceStatus, TenantInvoice
from tests.catalog.concurrency import run_concurrently
from tests.conftest import TENANT_A
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR, make_invoice, seed_catalog, subscriber

pytestmark = pytest.mark.django_db
MAY = dt.date(2026, 5, 1)


def note_on(invoice, **kwargs):
    kwargs.setdefault("reason", "droplet billed while powered off")
    return credit_note_issue(invoice=invoice, actor=ACTOR, **kwargs)


def test_the_hand_computed_figure_holds_to_the_cent():
    invoice = issued_invoice(TENANT_A)
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (12345, 1235, 13580)

    note = note_on(invoice, lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 3333}])

    assert (note.subtotal_cents, note.tax_cents, note.total_cents) == (3333, 333, 3666)
    assert invoice.total_cents - note.total_cents == 9914
    assert note.number == f"ARC-CN-{note.issued_at.year}-000001"
    assert note.settlement == "credit"
    assert note.parties == TenantInvoice.objects.get(pk=invoice.pk).parties
    assert list(note.lines.values_list("amount_cents", flat=True)) == [3333]


def test_the_next_invoice_consumes_the_credit_after_tax_through_the_rollup():
    seed_catalog()
    subscriber(TENANT_A, addons=())
    april = issued_invoice(TENANT_A)
    note = note_on(april, lines=[{"line_id": usage_line(april).pk, "amount_cents": 3333}])

    roll_up_period(MAY)

    may = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=MAY)
    lines = list(may.lines.order_by("position"))
    assert [line.kind for line in lines][-2:] == ["tax", "credit"]
    credit = lines[-1]
    assert credit.amount_cents == -3666
    assert note.number in credit.description
    assert may.credit_cents == 3666
    # GST of the May invoice is on its own supplies, untouched by the credit.
    assert may.total_cents == may.subtotal_cents + may.tax_cents
    assert may.amount_due_cents == may.total_cents - 3666
    assert credit_available([TENANT_A], except_period_start=None) == {}


def test_credit_larger_than_the_next_invoice_is_carried_forward_never_below_zero():
    seed_catalog()
    subscriber(TENANT_A, addons=())
    april = issued_invoice(TENANT_A, subtotal_cents=900_000, tax_cents=90_000)
    note = note_on(april)  # everything: 990,000c

    roll_up_period(MAY)

    may = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=MAY)
    assert may.credit_cents == may.total_cents  # due: zero, never negative
    assert may.amount_due_cents == 0
    left = credit_available([TENANT_A])[TENANT_A]
    assert [(c.number, c.available_cents) for c in left] == [
        (note.number, 990_000 - may.total_cents)
    ]


def test_regenerating_a_draft_does_not_consume_its_own_credit_twice():
    seed_catalog()
    subscriber(TENANT_A, addons=())
    april = issued_invoice(TENANT_A)
    note_on(april, lines=[{"line_id": usage_line(april).pk, "amount_cents": 3333}])
    roll_up_period(MAY)
    roll_up_period(MAY, force=True)
    may = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=MAY)
    assert may.credit_cents == 3666


def test_a_refund_note_leaves_no_credit_on_the_balance():
    invoice = issued_invoice(TENANT_A)
    note = note_on(
        invoice, settlement="refund", refund_reference="EFT 8812", refunded_on=dt.date(2026, 5, 3)
    )
    assert note.total_cents == 13580 and note.tax_cents == 1235
    assert credit_available([TENANT_A]) == {}


def test_a_full_note_after_a_partial_takes_exactly_what_is_left():
    invoice = issued_invoice(TENANT_A)
    first = note_on(invoice, lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 3333}])
    rest = note_on(invoice)
    assert rest.subtotal_cents == 12345 - 3333
    assert first.tax_cents + rest.tax_cents == 1235
    assert first.total_cents + rest.total_cents == 13580
    assert rest.number.endswith("-000002")
    with pytest.raises(Conflict):
        note_on(invoice)


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"line_id": 987654321}], "lines[0].line_id"),
        ([{"line_id": "x"}], "lines[0].line_id"),
        ([{"line_id": None, "amount_cents": 1}], "lines[0].line_id"),
        ("all", "lines"),
        ([], "lines"),
    ],
)
def test_bad_lines_are_400_naming_the_field_and_write_nothing(lines, field):
    invoice = issued_invoice(TENANT_A)
    with pytest.raises(FieldError) as caught:
        note_on(invoice, lines=lines)
    assert caught.value.field == field
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize("amount", [0, -1, True, "12"])
def test_zero_negative_or_non_integer_amounts_are_refused(amount):
    invoice = issued_invoice(TENANT_A)
    with pytest.raises(FieldError) as caught:
        note_on(invoice, lines=[{"line_id": usage_line(invoice).pk, "amount_cents": amount}])
    assert caught.value.field == "lines[0].amount_cents"
    assert not CreditNote.objects.exists()


def test_more_than_the_remainder_is_a_conflict_naming_the_amount():
    invoice = issued_invoice(TENANT_A)
    line = usage_line(invoice)
    with pytest.raises(Conflict) as caught:
        note_on(invoice, lines=[{"line_id": line.pk, "amount_cents": 12346}])
    assert "lines[0].amount_cents" in caught.value.fields
    assert not CreditNote.objects.exists()


def test_the_tax_line_is_not_creditable():
    invoice = issued_invoice(TENANT_A)
    tax = invoice.lines.get(kind="tax")
    with pytest.raises(FieldError) as caught:
        note_on(invoice, lines=[{"line_id": tax.pk}])
    assert caught.value.field == "lines[0].line_id"


def test_draft_and_void_invoices_take_no_note():
    draft = make_invoice(TENANT_A)
    with pytest.raises(InvalidStateChange):
        note_on(draft)
    void = invoice_void(invoice=issued_invoice(TENANT_A, period_start=MAY), actor=ACTOR, reason="x")
    with pytest.raises(InvalidStateChange):
        note_on(void)
    assert not CreditNote.objects.exists()


def test_missing_reason_and_incomplete_refund_are_named():
    invoice = issued_invoice(TENANT_A)
    with pytest.raises(FieldError) as caught:
        note_on(invoice, reason="  ")
    assert caught.value.field == "reason"
    with pytest.raises(FieldError) as caught:
        note_on(invoice, settlement="refund", refunded_on=dt.date(2026, 5, 1))
    assert caught.value.field == "refund_reference"
    with pytest.raises(FieldError) as caught:
        note_on(invoice, settlement="cash")
    assert caught.value.field == "settlement"


def test_an_issued_note_is_immutable_in_the_database(on_postgres):
    if not on_postgres:
        pytest.skip("the immutability triggers are PostgreSQL's")
    note = note_on(issued_invoice(TENANT_A))
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.filter(pk=note.pk).update(total_cents=1, subtotal_cents=1, tax_cents=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNoteLine.objects.filter(note=note).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.filter(pk=note.pk).delete()


def test_a_profile_edit_after_issue_never_changes_the_issued_invoice():
    billing_profile_save(
        tenant_id=TENANT_A, legal_name="Orchid Pty Ltd", abn="51 824 753 556", actor=ACTOR
    )
    invoice = issued_invoice(TENANT_A)
    billing_profile_save(tenant_id=TENANT_A, legal_name="Renamed Pty Ltd", actor=ACTOR)
    invoice.refresh_from_db()
    assert invoice.parties["buyer"]["legal_name"] == "Orchid Pty Ltd"
    assert invoice.parties["buyer"]["abn"] == "51824753556"
    assert invoice.parties["seller"]["abn"]
    assert invoice.due_on == invoice.issued_at.date() + dt.timedelta(days=14)


def test_frozen_parties_cannot_be_rewritten_in_the_database(on_postgres):
    if not on_postgres:
        pytest.skip("the freeze triggers are PostgreSQL's")
    invoice = issued_invoice(TENANT_A)
    with pytest.raises(IntegrityError), transaction.atomic():
        TenantInvoice.objects.filter(pk=invoice.pk).update(parties={"buyer": {}})
    assert TenantInvoice.objects.get(pk=invoice.pk).status == InvoiceStatus.ISSUED


@pytest.mark.django_db(transaction=True)
def test_two_notes_racing_for_the_remainder_one_wins():
    invoice = issued_invoice(TENANT_A)
    line_id = usage_line(invoice).pk

    def credit_8000():
        return note_on(invoice, lines=[{"line_id": line_id, "amount_cents": 8000}])

    results = run_concurrently(credit_8000, credit_8000)

    notes = [r for r in results if isinstance(r, CreditNote)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(notes) == 1 and len(refused) == 1, results
    assert CreditNote.objects.count() == 1
