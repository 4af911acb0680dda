"""The finance push (SPEC §6): a normalized invoice POSTed to the finance service.

Finance dedups on (tenant, source, external_id), so sending the same invoice twice is safe; we
still skip a push whose payload is byte-for-byte what finance last accepted (sha256 of the
canonical JSON), unless forced. Failures are split by whether a retry can help: 5xx, 429,
timeouts and connection errors raise `FinanceUnavailable` (the task retries with backoff);
other 4xx store `last_error` for an operator and are not retried.

No row lock is held while finance answers; the outcome is written with one UPDATE. Finance
errors in `last_error` start with "finance", so a successful push clears its own errors but
never an ingest error an operator still has to see.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.db.models import Case, F, TextField, Value, When
from django.utils import timezone

from arcadia_cloud.auth import PLATFORM_TENANT_ID, mint_token
from arcadia_cloud.errors import InvalidStateChange
from arcadia_cloud.money import dollars_to_cents
from billing.models import CloudInvoice
from billing.services.common import invoice_error_record

logger = logging.getLogger(__name__)

IMPORT_PATH = "/api/v1/integrations/cloud/import-invoice"
SOURCE = "digitalocean"
VENDOR = "DigitalOcean"
CATEGORY = "cloud"
TOKEN_TTL_SECONDS = 300
TOKEN_SUBJECT = "service:arcadia-cloud"
TIMEOUT = (5, 20)  # (connect, read) seconds
ERROR_BODY_CHARS = 300
ERROR_PREFIX = "finance"


class FinanceUnavailable(Exception):
    """Finance did not answer usefully (5xx, 429, timeout, connection error): retry later."""


@dataclass(frozen=True)
class FinancePushResult:
    invoice_uuid: str
    status: str  # created / updated (finance's answer), unchanged, skipped, rejected
    finance_invoice_id: str = ""
    detail: str = ""


def finance_payload(invoice: CloudInvoice) -> dict[str, Any]:
    """The normalized invoice. Net and tax are each rounded to cents once, from their exact
    sums; gross is their sum so the three always add up."""
    net = dollars_to_cents(invoice.net_amount)
    tax = dollars_to_cents(invoice.tax_amount)
    return {
        "source": SOURCE,
        "external_id": invoice.invoice_uuid,
        "vendor": VENDOR,
        "category": CATEGORY,
        "period": invoice.period.isoformat(),
        "currency": invoice.currency,
        "amount_net_minor": net,
        "amount_tax_minor": tax,
        "amount_gross_minor": net + tax,
    }


def payload_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def finance_push(*, invoice: CloudInvoice, force: bool = False) -> FinancePushResult:
    """POST the invoice to finance and record the outcome on it.

    Returns `skipped` without FINANCE_URL, `unchanged` when finance already has this exact
    payload (unless `force`), `rejected` on a 4xx (stored in `last_error`), else finance's
    status. Raises FinanceUnavailable when a retry may succeed, InvalidStateChange when the
    invoice has no lines yet.
    """
    base_url = finance_base_url()
    if not base_url:
        logger.info(
            "finance push of invoice %s skipped: FINANCE_URL is not set", invoice.invoice_uuid
        )
        return FinancePushResult(invoice.invoice_uuid, "skipped", detail="FINANCE_URL is not set")
    if not invoice.is_ingested:
        raise InvalidStateChange(
            f"Invoice {invoice.invoice_uuid} has no ingested lines yet; ingest it before pushing."
        )
    payload = finance_payload(invoice)
    digest = payload_hash(payload)
    if not force and invoice.pushed_to_finance_at and invoice.finance_payload_hash == digest:
        return FinancePushResult(
            invoice.invoice_uuid, "unchanged", invoice.finance_invoice_id, "finance has it already"
        )

    response = _post(base_url + IMPORT_PATH, payload, invoice, digest)
    if response.status_code >= 500 or response.status_code == 429:
        message = (
            f"{ERROR_PREFIX} push failed: HTTP {response.status_code} {_excerpt(response)}; "
            "will retry"
        )
        invoice_error_record(invoice=invoice, message=message)
        raise FinanceUnavailable(message)
    if response.status_code >= 400:
        message = (
            f"{ERROR_PREFIX} rejected the invoice: HTTP {response.status_code} {_excerpt(response)}"
        )
        invoice_error_record(invoice=invoice, message=message)
        return FinancePushResult(invoice.invoice_uuid, "rejected", detail=message)
    status, finance_id = _accepted(response, invoice)
    _record_success(invoice, status=status, finance_id=finance_id, digest=digest)
    logger.info(
        "invoice %s pushed to finance: %s (id %s)", invoice.invoice_uuid, status, finance_id
    )
    return FinancePushResult(invoice.invoice_uuid, status, finance_id)


def finance_base_url() -> str:
    """FINANCE_URL without its trailing slash; "" when finance is not configured."""
    return str(getattr(settings, "FINANCE_URL", "") or "").strip().rstrip("/")


def finance_post(url: str, payload: dict[str, Any], *, idempotency_key: str) -> requests.Response:
    """POST to finance with the service JWT every push uses; a connection error or timeout is
    FinanceUnavailable (retry later). The COGS push and the receivables push both send here."""
    token = mint_token(
        tenant_id=PLATFORM_TENANT_ID,
        roles=["admin"],
        sub=TOKEN_SUBJECT,
        ttl_seconds=TOKEN_TTL_SECONDS,
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        # The same payload is the same request: a finance that honours keys answers it once.
        "Idempotency-Key": idempotency_key,
    }
    try:
        return requests.post(url, json=payload, headers=headers, timeout=TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        message = f"{ERROR_PREFIX} push failed: {type(exc).__name__} reaching {url}; will retry"
        raise FinanceUnavailable(message) from exc


def response_excerpt(response: requests.Response) -> str:
    return _excerpt(response)


def _post(
    url: str, payload: dict[str, Any], invoice: CloudInvoice, digest: str
) -> requests.Response:
    try:
        return finance_post(
            url, payload, idempotency_key=f"{SOURCE}:{invoice.invoice_uuid}:{digest[:16]}"
        )
    except FinanceUnavailable as exc:
        invoice_error_record(invoice=invoice, message=str(exc))
        raise


def _accepted(response: requests.Response, invoice: CloudInvoice) -> tuple[str, str]:
    """Finance's `{"status": "created"|"updated", "id": ...}` (`invoice_id` also accepted).

    A 2xx we cannot read is retried: the import is an upsert on external_id, so sending it
    again is harmless, and recording a push we cannot confirm would be wrong.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        message = (
            f"{ERROR_PREFIX} answered HTTP {response.status_code} without a JSON object: "
            f"{_excerpt(response)}; will retry"
        )
        invoice_error_record(invoice=invoice, message=message)
        raise FinanceUnavailable(message)
    finance_id = body.get("id", body.get("invoice_id"))
    status = str(body.get("status") or "accepted")
    return status, "" if finance_id is None else str(finance_id)


def _record_success(invoice: CloudInvoice, *, status: str, finance_id: str, digest: str) -> None:
    pushed_at = timezone.now()
    own_error_cleared = Case(
        When(last_error__startswith=ERROR_PREFIX, then=Value("")),
        default=F("last_error"),
        output_field=TextField(),
    )
    CloudInvoice.objects.filter(pk=invoice.pk).update(
        pushed_to_finance_at=pushed_at,
        finance_status=status[:32],
        finance_invoice_id=finance_id[:100],
        finance_payload_hash=digest,
        last_error=own_error_cleared,
        updated_at=pushed_at,
    )
    invoice.refresh_from_db(
        fields=[
            "pushed_to_finance_at",
            "finance_status",
            "finance_invoice_id",
            "finance_payload_hash",
            "last_error",
            "updated_at",
        ]
    )


def _excerpt(response: requests.Response) -> str:
    text = " ".join((response.text or "").split())
    return repr(text[:ERROR_BODY_CHARS]) if text else "<empty body>"
