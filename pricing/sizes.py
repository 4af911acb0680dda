"""Prices that follow what a resource is (issue 18): size scopes, pure.

A size scope names the sizes a price (or a plan item's allowance) applies to:

- "" — every size (unscoped);
- an exact DigitalOcean size slug, e.g. "m-24vcpu-192gb";
- a family prefix ending in "-", e.g. "s-", "g-", "gpu-".

The most specific match wins: an exact slug, then the longest matching prefix, then unscoped.
Two prices of one kind, currency and scope never overlap in time (the catalog refuses it), so
for a size on a day there is at most one winner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

from arcadia_cloud.validation import FieldError

# A slug as DigitalOcean writes them: lower-case letters, digits, '-' and '.'.
_SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_SCOPE_LENGTH = 64

T = TypeVar("T")

# DigitalOcean's size families, valid as a prefix scope even before the price list is synced
# (a fresh install seeds its catalog first): basic, CPU-optimized, general purpose,
# memory-optimized, storage-optimized droplets, GPU droplets, managed databases, App Platform.
KNOWN_FAMILY_PREFIXES = frozenset(
    {
        "s-",
        "c-",
        "c2-",
        "g-",
        "gd-",
        "m-",
        "m3-",
        "m6-",
        "so-",
        "so1_5-",
        "gpu-",
        "db-",
        "db-s-",
        "apps-",
        "apps-s-",
        "apps-d-",
    }
)


def is_prefix(scope: str) -> bool:
    return scope.endswith("-")


def scope_matches(scope: str, size_slug: str) -> bool:
    """Whether `scope` covers `size_slug` ("" covers every size, an unknown one included)."""
    if not scope:
        return True
    if is_prefix(scope):
        return size_slug.startswith(scope)
    return size_slug == scope


def specificity(scope: str) -> tuple[int, int]:
    """Sort key: exact (2) > prefix (1, longer first) > unscoped (0)."""
    if not scope:
        return (0, 0)
    if is_prefix(scope):
        return (1, len(scope))
    return (2, len(scope))


def most_specific(size_slug: str, candidates: Iterable[tuple[str, T]]) -> T | None:
    """The candidate (scope, value) whose scope covers `size_slug` most specifically, or None."""
    best: tuple[tuple[int, int], T] | None = None
    for scope, value in candidates:
        if not scope_matches(scope, size_slug):
            continue
        rank = specificity(scope)
        if best is None or rank > best[0]:
            best = (rank, value)
    return None if best is None else best[1]


def clean_scope(field: str, value: object, *, known_slugs: Sequence[str]) -> str:
    """A size scope: "" (every size), a slug DigitalOcean's price list knows, or a prefix that
    is a known size family or that at least one known slug starts with. Anything else is a
    FieldError naming `field`."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _SCOPE_RE.fullmatch(value):
        raise FieldError(
            field,
            f"{value!r} is not a size scope; use a size slug (m-24vcpu-192gb) or a family "
            "prefix ending in '-' (gpu-)",
        )
    if is_prefix(value):
        if value not in KNOWN_FAMILY_PREFIXES and not any(
            slug.startswith(value) for slug in known_slugs
        ):
            raise FieldError(field, f"no size in DigitalOcean's price list starts with {value!r}")
    elif value not in known_slugs:
        raise FieldError(
            field,
            f"{value!r} is not a size in DigitalOcean's price list (sync it: "
            "manage.py sync_provider_prices)",
        )
    return value


def parse_scopes(text: str) -> tuple[str, ...]:
    """A comma-separated scope list as stored on a plan item ("" → no limit)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())
