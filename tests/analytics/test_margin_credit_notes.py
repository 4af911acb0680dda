"""Margin counts revenue net of adjustment notes in the period they are issued; the credit
lines that later consume a note's credit are a settlement, never counted again."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.selectors import by_kind, margin_summary
from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import month_start
from invoicing.credit_notes.services import credit_note_issue
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
from tests.analytics.factories import APRIL
from tests.conftest import TENANT_A
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR, seed_catalog, subscriber

pytestmark = pytest.mark.django_db
MAY = dt.date(2026, 5, 1)


def revenue_of(summary: dict, tenant_id: str) -> int:
    return next(row for row in summary["tenants"] if row["tenant_id"] == tenant_id)["revenue_cents"]


def test_a_note_reduces_the_revenue_of_the_month_it_is_issued_in_not_the_invoices():
    invoice = issued_invoice(TENANT_A)
    note = credit_note_issue(
        invoice=invoice,
        reason="x",
        lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 3333}],
        actor=ACTOR,
    )
    assert note.issued_at.date().replace(day=1) == month_start(utc_today())

    assert revenue_of(margin_summary(APRIL), TENANT_A) == 12345  # April as invoiced
    this_month = margin_summary(month_start(utc_today()))
    assert revenue_of(this_month, TENANT_A) == -3333  # ex-GST, when the note was issued
    kinds = {
        row["kind"]: row["revenue_cents"] for row in by_kind(month_start(utc_today()))["revenue"]
    }
    assert kinds == {"volume_gb_month": -3333}


def test_consumed_credit_is_not_revenue_again():
    seed_catalog()
    subscriber(TENANT_A, addons=())
    april = issued_invoice(TENANT_A)
    credit_note_issue(invoice=april, reason="x", actor=ACTOR)
    roll_up_period(MAY)
    may = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=MAY)
    assert may.credit_cents > 0
    assert revenue_of(margin_summary(MAY), TENANT_A) == may.subtotal_cents
