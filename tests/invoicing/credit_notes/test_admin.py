"""Documents in the admin: the invoice's HTML document, issuing a note from the invoice page
(finance may, not void), Push again and Resend."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from invoicing.models import CreditNote, DocumentEmail, ReceivablePush
from tests.conftest import TENANT_A
from tests.customers.factories import make_profile
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.invoices.test_admin import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance() -> Client:
    return staff_client("fay", "finance")


def test_finance_issues_a_partial_note_from_the_invoice_page(finance):
    invoice = issued_invoice(TENANT_A)
    page = finance.get(reverse("admin:invoicing_tenantinvoice_change", args=[invoice.pk]))
    assert b"Issue an adjustment note" in page.content
    url = reverse("admin:invoicing_tenantinvoice_credit_note", args=[invoice.pk])
    assert finance.get(url).status_code == 200

    response = finance.post(
        url,
        {
            "reason": "powered off",
            "settlement": "credit",
            "line": usage_line(invoice).pk,
            "amount_cents": 3333,
        },
    )
    assert response.status_code == 302
    note = CreditNote.objects.get()
    assert (note.subtotal_cents, note.tax_cents, note.total_cents) == (3333, 333, 3666)
    assert note.created_by == "admin:fay"


def test_a_refused_note_is_shown_on_the_form_and_writes_nothing(finance):
    invoice = issued_invoice(TENANT_A)
    url = reverse("admin:invoicing_tenantinvoice_credit_note", args=[invoice.pk])
    response = finance.post(
        url,
        {
            "reason": "x",
            "settlement": "credit",
            "line": usage_line(invoice).pk,
            "amount_cents": 99999,
        },
    )
    assert response.status_code == 200
    assert b"cents left to credit" in response.content
    assert not CreditNote.objects.exists()


def test_staff_without_the_permission_cannot_issue_notes():
    user = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    invoice = issued_invoice(TENANT_A)
    url = reverse("admin:invoicing_tenantinvoice_credit_note", args=[invoice.pk])
    assert client.post(url, {"reason": "x", "settlement": "credit"}).status_code == 403
    assert not CreditNote.objects.exists()


def test_the_document_view_renders_the_tax_invoice(finance):
    invoice = issued_invoice(TENANT_A)
    url = reverse("admin:invoicing_tenantinvoice_document", args=[invoice.pk])
    html = finance.get(url).content.decode()
    assert "Tax invoice" in html and invoice.number in html and "AUD 135.80" in html


def test_push_again_and_resend_actions(finance, settings, django_capture_on_commit_callbacks):
    settings.FINANCE_URL = ""
    make_profile(TENANT_A)
    invoice = issued_invoice(TENANT_A)
    push = ReceivablePush.objects.get(invoice=invoice)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = finance.post(
            reverse("admin:invoicing_receivablepush_changelist"),
            {"action": "push_again_selected", "_selected_action": [push.pk]},
        )
    assert response.status_code == 302, response.content[:3000]
    assert callbacks, "nothing queued"
    push.refresh_from_db()
    assert push.status == "skipped"  # ran: FINANCE_URL is not set here

    email = DocumentEmail.objects.get(invoice=invoice)
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(
            reverse("admin:invoicing_documentemail_changelist"),
            {"action": "resend_selected", "_selected_action": [email.pk]},
        )
    assert DocumentEmail.objects.filter(invoice=invoice).count() == 2
    assert len(mail.outbox) == 1


def test_the_invoice_page_shows_its_finance_push_and_emails(finance, settings):
    settings.FINANCE_URL = ""
    make_profile(TENANT_A, billing_emails=["ap@orchid.example"])
    invoice = issued_invoice(TENANT_A)
    page = finance.get(reverse("admin:invoicing_tenantinvoice_change", args=[invoice.pk]))
    text = page.content.decode()
    assert "finance: pending" in text
    assert "email to ap@orchid.example: queued" in text
