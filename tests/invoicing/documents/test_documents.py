"""Tax invoices and adjustment notes as HTML and PDF: every item the ATO requires, read back
from the PDF itself (pypdf), for the tenant through the API."""

from __future__ import annotations

import re

import pytest

from customers.services import billing_profile_save
from invoicing.credit_notes.services import credit_note_issue
from invoicing.models import TenantInvoice
from tests.conftest import TENANT_A
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR, make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile():
    return billing_profile_save(
        tenant_id=TENANT_A,
        legal_name="Orchid Labs Pty Ltd",
        abn="53004085616",
        address="5 Kent St, Sydney NSW 2000",
        billing_emails=["ap@orchid.example"],
        payment_terms_days=30,
        actor=ACTOR,
    )


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_tax_invoice_pdf_carries_every_required_item(settings, tenant_a_api, profile, pdf_text):
    invoice = issued_invoice(TENANT_A)
    response = tenant_a_api.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = flat(pdf_text(response.content))

    issued = invoice.issued_at
    assert "Tax invoice" in text
    assert settings.SELLER_LEGAL_NAME in text
    assert "ABN 51 824 753 556" in text  # the seller's (development default)
    assert invoice.number in text
    assert f"{issued.day} {issued:%B %Y}" in text  # date of issue
    assert f"{invoice.due_on.day} {invoice.due_on:%B %Y}" in text  # due date
    assert "Orchid Labs Pty Ltd" in text and "ABN 53 004 085 616" in text  # the buyer
    assert "Volume storage (not in plan, at the list price)" in text  # what was supplied
    assert "66.666667" in text and "AUD 0.15" in text  # quantity and price
    assert "AUD 123.45" in text  # subtotal ex GST
    assert "GST AUD 12.35" in text  # the GST
    assert "Total (including GST) AUD 135.80" in text
    assert "DRAFT" not in text


def test_the_html_document_is_the_same_template(tenant_a_api, profile):
    invoice = issued_invoice(TENANT_A)
    response = tenant_a_api.get(f"/api/v1/invoices/{invoice.pk}/document")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Tax invoice" in html and invoice.number in html and "AUD 135.80" in html


def test_a_draft_renders_with_a_watermark_and_no_number(admin_api, tenant_a_api, pdf_text):
    draft = make_invoice(TENANT_A)
    assert tenant_a_api.get(f"/api/v1/invoices/{draft.pk}/pdf").status_code == 404
    text = flat(pdf_text(admin_api.get(f"/api/v1/invoices/{draft.pk}/pdf").content))
    assert "DRAFT" in text and "(none: draft)" in text


def test_issued_documents_keep_the_frozen_buyer(tenant_a_api, profile, pdf_text):
    invoice = issued_invoice(TENANT_A)
    billing_profile_save(tenant_id=TENANT_A, legal_name="Renamed Pty Ltd", actor=ACTOR)
    text = flat(pdf_text(tenant_a_api.get(f"/api/v1/invoices/{invoice.pk}/pdf").content))
    assert "Orchid Labs Pty Ltd" in text and "Renamed" not in text


def test_the_adjustment_note_pdf_says_what_it_adjusts_and_the_gst_effect(
    tenant_a_api, profile, pdf_text
):
    invoice = issued_invoice(TENANT_A)
    note = credit_note_issue(
        invoice=invoice,
        reason="droplet billed while powered off",
        lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 3333}],
        actor=ACTOR,
    )
    response = tenant_a_api.get(f"/api/v1/credit-notes/{note.pk}/pdf")
    assert response.status_code == 200
    text = flat(pdf_text(response.content))
    issued = invoice.issued_at
    assert "Adjustment note" in text and note.number in text
    assert f"{invoice.number} issued {issued.day} {issued:%B %Y}" in text
    assert "ABN 51 824 753 556" in text  # the seller's ABN
    assert "Orchid Labs Pty Ltd" in text
    assert "GST adjustment (the effect on GST) -AUD 3.33" in text
    assert "Total credited (including GST) -AUD 36.66" in text
    assert "droplet billed while powered off" in text

    # ... and the invoice's own document shows the note and its net.
    invoice_text = flat(pdf_text(tenant_a_api.get(f"/api/v1/invoices/{invoice.pk}/pdf").content))
    # (a narrow column may break the number at its hyphen)
    assert f"Adjustmentnote{note.number}-AUD36.66" in invoice_text.replace(" ", "")
    assert "Net after adjustment notes AUD 99.14" in invoice_text
    assert TenantInvoice.objects.get(pk=invoice.pk).parties["buyer"]["abn"] == "53004085616"
