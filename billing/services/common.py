"""Helpers shared by the billing write services."""

from __future__ import annotations

import logging

from django.utils import timezone

from billing.models import CloudInvoice

logger = logging.getLogger("billing.services")


def invoice_error_record(*, invoice: CloudInvoice, message: str) -> None:
    """Store why the last ingest or push failed, touching nothing else (lines stay as they
    were). One UPDATE outside any lock: the admin shows it, the next success clears it."""
    message = message.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL
    logger.warning("invoice %s: %s", invoice.invoice_uuid, message)
    invoice.last_error = message
    invoice.updated_at = timezone.now()
    CloudInvoice.objects.filter(pk=invoice.pk).update(
        last_error=message, updated_at=invoice.updated_at
    )
