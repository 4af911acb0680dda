"""Whatever partial notes are issued against an invoice, in whatever order: never more than the
invoice ex-GST, never more GST than it charged, and crediting what is left always lands on its
total exactly (no rounding cent lost or gained)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from arcadia_cloud.errors import Conflict
from arcadia_cloud.money import round_cents
from invoicing.credit_notes.services import credit_note_issue
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR

pytestmark = pytest.mark.django_db
_tenants = itertools.count(1)


@given(
    subtotal=st.integers(min_value=1, max_value=10_000_000),
    parts=st.lists(st.integers(min_value=1, max_value=5_000_000), max_size=5),
)
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_notes_never_exceed_the_invoice_and_end_on_its_total(subtotal, parts):
    tax = round_cents(subtotal * Decimal("0.1"))
    invoice = issued_invoice(f"prop-{next(_tenants)}", subtotal_cents=subtotal, tax_cents=tax)
    line_id = usage_line(invoice).pk
    notes = []
    for amount in parts:
        try:
            notes.append(
                credit_note_issue(
                    invoice=invoice,
                    reason="partial",
                    lines=[{"line_id": line_id, "amount_cents": amount}],
                    actor=ACTOR,
                )
            )
        except Conflict:
            assert sum(n.subtotal_cents for n in notes) + amount > subtotal
        credited = sum(n.subtotal_cents for n in notes)
        assert credited <= subtotal
        assert sum(n.tax_cents for n in notes) <= tax
    if sum(n.subtotal_cents for n in notes) < subtotal:
        notes.append(credit_note_issue(invoice=invoice, reason="the rest", actor=ACTOR))
    assert sum(n.subtotal_cents for n in notes) == subtotal
    assert sum(n.tax_cents for n in notes) == tax
    assert sum(n.total_cents for n in notes) == invoice.total_cents
    for note in notes[:-1]:  # each partial note: GST half-up on its own amount (or what was left)
        assert note.tax_cents <= round_cents(note.subtotal_cents * Decimal("0.1"))
