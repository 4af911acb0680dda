"""Checks of billing-profile fields, on top of `arcadia_cloud.validation`.

The ABN is checked with python-stdnum (`stdnum.au.abn`: 11 digits and the ATO's weighted
modulus-89 checksum) and kept in its compact form; it is shown grouped (`51 824 753 556`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from stdnum import exceptions as stdnum_exceptions
from stdnum.au import abn as stdnum_abn

from arcadia_cloud.validation import FieldError, clean_text
from customers.models import MAX_BILLING_EMAILS, MAX_PAYMENT_TERMS_DAYS

MAX_EMAIL_LENGTH = 254


def clean_abn(field: str, value: object, *, required: bool = False) -> str:
    """An ABN in compact form ("" when blank and not required)."""
    if value is None:
        value = ""
    text = clean_text(field, value, max_length=40, required=required)
    if not text:
        return ""
    try:
        return stdnum_abn.validate(text)
    except stdnum_exceptions.ValidationError as exc:
        raise FieldError(
            field, f"{text!r} is not a valid ABN ({exc.message}): 11 digits with a valid checksum"
        ) from None


def format_abn(abn: str) -> str:
    return stdnum_abn.format(abn) if abn else ""


def clean_billing_emails(field: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise FieldError(field, f"must be a list of email addresses, got {value!r}")
    if len(value) > MAX_BILLING_EMAILS:
        raise FieldError(field, f"at most {MAX_BILLING_EMAILS} addresses, got {len(value)}")
    emails: list[str] = []
    for index, raw in enumerate(value):
        email = clean_text(f"{field}[{index}]", raw, max_length=MAX_EMAIL_LENGTH)
        try:
            validate_email(email)
        except ValidationError:
            raise FieldError(f"{field}[{index}]", f"{email!r} is not an email address") from None
        if email.lower() not in {e.lower() for e in emails}:
            emails.append(email)
    return emails


def clean_payment_terms(field: str, value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"must be a whole number of days or null, got {value!r}")
    if not 0 <= value <= MAX_PAYMENT_TERMS_DAYS:
        raise FieldError(field, f"must be 0 to {MAX_PAYMENT_TERMS_DAYS} days, got {value}")
    return value
