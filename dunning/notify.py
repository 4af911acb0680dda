"""Who hears about a payment reminder, and the email itself.

`reminder_recipients` is the ONE place the addresses are decided: the billing emails of the
tenant's billing profile (`customers`), else the settings fallback
(ARCADIA_BILLING_FALLBACK_EMAIL), else nobody (docs/decisions.md, "Dunning").
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from arcadia_cloud.money import cents_to_units
from customers.selectors import billing_profile_of
from invoicing.models import TenantInvoice

logger = logging.getLogger(__name__)


def reminder_recipients(tenant_id: str) -> list[str]:
    profile = billing_profile_of(tenant_id)
    if profile is not None and profile.billing_emails:
        return list(profile.billing_emails)
    fallback = (settings.ARCADIA_BILLING_FALLBACK_EMAIL or "").strip()
    return [fallback] if fallback else []


def reminder_email_on_commit(*, invoice: TenantInvoice, offset_days: int) -> None:
    """Email the reminder once the step that decided it has committed (a rolled-back step sends
    nothing); no recipient → a log line, no email."""
    recipients = reminder_recipients(invoice.tenant_id)
    if not recipients:
        logger.info(
            "payment reminder for invoice %s (tenant %s) not emailed: no billing address "
            "(no billing emails on its profile, no ARCADIA_BILLING_FALLBACK_EMAIL)",
            invoice.number,
            invoice.tenant_id,
        )
        return
    subject, body = reminder_text(invoice, offset_days)

    def send() -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)

    transaction.on_commit(send, robust=True)


def reminder_text(invoice: TenantInvoice, offset_days: int) -> tuple[str, str]:
    amount = f"{cents_to_units(invoice.amount_due_cents)} {invoice.currency}"
    if offset_days < 0:
        when = f"is due on {invoice.due_on.isoformat()}"
    elif offset_days == 0:
        when = "is due today"
    else:
        when = f"was due on {invoice.due_on.isoformat()} and is {offset_days} days overdue"
    subject = f"Payment reminder: invoice {invoice.number} ({amount})"
    body = (
        f"Invoice {invoice.number} for {invoice.period_start:%B %Y}, {amount}, {when}.\n"
        "If you have already paid, thank you — please ignore this reminder.\n"
    )
    return subject, body
