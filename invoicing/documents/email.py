"""Issued documents emailed to the tenant's billing emails (Django's email framework: the
console backend in development and the demo, locmem in tests, SMTP or a provider's backend by
EMAIL_BACKEND).

Issuing an invoice or an adjustment note writes one `document_emails` row (queued) and queues
`invoicing.email_document` on commit; the task renders the PDF, sends it and records the
outcome (sent, or failed with the error, retried by the task). *Resend* in the admin writes a
new row, so every delivery is on record: to whom, when, with what result.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from arcadia_cloud.celery import enqueue_on_commit
from customers.selectors import billing_profile_of
from invoicing.documents.render import (
    PDF_CONTENT_TYPE,
    invoice_context,
    note_context,
    pdf_filename,
    render_pdf,
)
from invoicing.models import (
    CreditNote,
    DocumentEmail,
    DocumentType,
    EmailStatus,
    TenantInvoice,
)

EMAIL_TASK = "invoicing.email_document"


def document_email_queue(
    *,
    invoice: TenantInvoice | None = None,
    credit_note: CreditNote | None = None,
    actor: str,
) -> DocumentEmail:
    """One delivery of the document to the tenant's billing emails (the profile's now, else
    those frozen on the document), queued on commit; `skipped` when there are none."""
    document = invoice if invoice is not None else credit_note
    profile = billing_profile_of(document.tenant_id)
    recipients = list(profile.billing_emails) if profile is not None else []
    if not recipients:
        recipients = list((document.parties or {}).get("buyer", {}).get("billing_emails", []))
    email = DocumentEmail.objects.create(
        document_type=DocumentType.INVOICE if invoice is not None else DocumentType.CREDIT_NOTE,
        invoice=invoice,
        credit_note=credit_note,
        recipients=recipients,
        status=EmailStatus.QUEUED if recipients else EmailStatus.SKIPPED,
        last_error="" if recipients else "no billing email on the tenant's profile",
        requested_by=actor[:200],
    )
    if recipients:
        enqueue_on_commit(EMAIL_TASK, email.pk)
    return email


def document_email_send(*, email_id: int) -> DocumentEmail:
    """Render the PDF and send it; the outcome is recorded (an error is re-raised for the
    task's retry). A delivery already sent is not sent twice."""
    email = DocumentEmail.objects.select_related("invoice", "credit_note__invoice").get(pk=email_id)
    if email.status != EmailStatus.QUEUED and email.status != EmailStatus.FAILED:
        return email
    if email.invoice is not None:
        context = invoice_context(email.invoice)
        subject = f"Tax invoice {email.invoice.number} from {context['seller']['legal_name']}"
        body = (
            f"Please find attached tax invoice {email.invoice.number} for "
            f"{email.invoice.period_start:%B %Y}: {context['total']}, due "
            f"{context['due_on']:%d %B %Y}.\n\n{context['seller']['payment_instructions']}\n"
        )
    else:
        context = note_context(email.credit_note)
        subject = (
            f"Adjustment note {email.credit_note.number} from {context['seller']['legal_name']}"
        )
        body = (
            f"Please find attached adjustment note {email.credit_note.number}, adjusting tax "
            f"invoice {context['original_number']}: {context['total']} credited.\n"
        )
    attempts = email.attempts + 1
    try:
        message = EmailMessage(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email.recipients,
        )
        message.attach(pdf_filename(context), render_pdf(context), PDF_CONTENT_TYPE)
        message.send(fail_silently=False)
    except Exception as exc:
        _record(email, status=EmailStatus.FAILED, attempts=attempts, last_error=f"{exc!r}"[:2000])
        raise
    return _record(
        email, status=EmailStatus.SENT, attempts=attempts, last_error="", sent_at=timezone.now()
    )


def document_email_resend(*, email: DocumentEmail, actor: str) -> DocumentEmail:
    """*Resend*: a new delivery of the same document."""
    return document_email_queue(invoice=email.invoice, credit_note=email.credit_note, actor=actor)


def _record(email: DocumentEmail, **fields) -> DocumentEmail:
    fields["updated_at"] = timezone.now()
    DocumentEmail.objects.filter(pk=email.pk).update(**fields)
    for name, value in fields.items():
        setattr(email, name, value)
    return email
