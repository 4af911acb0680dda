"""Billing selectors: cost lines of a period, match reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.selectors import cost_lines_for_period, invoice_match_report, invoices_pending_ingest
from tests.billing.factories import PERIOD, make_invoice, make_line
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db


def test_cost_lines_for_period_cover_every_invoice_of_the_month_in_order():
    first, second = make_invoice(), make_invoice()
    march = make_invoice(period=dt.date(2026, 3, 1))
    for invoice in (second, first, march):
        make_line(invoice)
        make_line(invoice, kind="volume")
    lines = list(cost_lines_for_period(PERIOD))
    assert [(line.invoice_id, line.line_number) for line in lines] == [
        (first.pk, 1),
        (first.pk, 2),
        (second.pk, 1),
        (second.pk, 2),
    ]
    assert [line.kind for line in cost_lines_for_period(PERIOD, kind="volume")] == ["volume"] * 2
    assert len(cost_lines_for_period(PERIOD, limit=3)) == 3


def test_match_report_groups_lines_by_reason():
    invoice = make_invoice()
    droplet = make_resource(name="web-1")
    make_line(invoice, resource=droplet, amount=Decimal("6.00"))
    make_line(invoice, resource=droplet, amount=Decimal("1.20"))
    for number in range(7):
        make_line(invoice, match_reason=f"no droplet named 'ghost-{number}'")
    make_line(invoice, match_status="ambiguous", match_code="several_candidates")

    report = invoice_match_report(invoice)

    assert (report.line_count, report.matched, report.unmatched, report.ambiguous) == (10, 2, 7, 1)
    groups = {(g.status, g.code): g for g in report.groups}
    assert groups[("matched", "live")].amount == Decimal("7.20")
    missing = groups[("unmatched", "not_in_inventory")]
    assert (missing.count, missing.label) == (7, "no resource of that kind and name")
    assert missing.examples == [f"no droplet named 'ghost-{n}'" for n in range(5)]


def test_match_report_query_count_is_bounded(django_assert_max_num_queries):
    invoice = make_invoice()
    for number in range(30):
        make_line(invoice, match_reason=f"reason {number}")
    with django_assert_max_num_queries(2):
        invoice_match_report(invoice)


def test_pending_ingest_lists_invoices_without_lines():
    pending = make_invoice()
    make_invoice(lines_ingested_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    assert list(invoices_pending_ingest()) == [pending]
