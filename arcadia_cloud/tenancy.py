"""The one shape of a tenant id, shared by authentication, the services and the admin.

arcadia-app names a tenant by a UUID or a slug (`platform-admin`, `skyai-internal`, `acme`).
Each tenant has exactly one spelling here: a slug of lower-case letters, digits, '-' and '_', or a
UUID in its canonical lower-case hyphenated form. A token's claim is normalized to that spelling
once, at authentication (surrounding whitespace dropped, a UUID lower-cased), so reads and
writes compare the same string; services refuse any other spelling instead of repairing it.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from arcadia_cloud.errors import field_error
from arcadia_cloud.text import printable

TENANT_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
TENANT_ID_SHAPE = (
    "a UUID, or a slug of 1 to 63 lower-case letters, digits, '-' and '_' starting with a "
    "letter or digit (acme, platform-admin)"
)


def canonical_tenant_id(value: str) -> str | None:
    """`value` in its one spelling (a UUID lower-cased), or None when it is not a tenant id."""
    if TENANT_SLUG_RE.fullmatch(value):
        return value
    if UUID_RE.fullmatch(value):
        return value.lower()
    return None


def clean_tenant_id(value: object, field: str = "tenant_id") -> str:
    """A tenant id a service may write: already in its one spelling, or a 400 naming `field`."""
    if isinstance(value, str) and canonical_tenant_id(value) == value:
        return value
    shown = printable(value) if isinstance(value, str) else value
    raise field_error(field, f"{shown!r} is not a tenant id; use {TENANT_ID_SHAPE}")


def validate_tenant_id(value: str) -> None:
    """The same rule for Django forms (the admin)."""
    if canonical_tenant_id(value) != value:
        raise ValidationError(f"{printable(value)!r} is not a tenant id; use {TENANT_ID_SHAPE}")
