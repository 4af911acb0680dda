"""The drift rules as pure functions: no queries, no writes.

What a spec may say, where a spec field's live value is read, how loosely two values are
compared and how accepting a drift rewrites a spec. The sweep, the accept service and the admin
form all use these, so the rules live in exactly one place.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from arcadia_cloud.errors import field_error
from drift.models import FIELD_MAX_LENGTH
from inventory.models import CloudResource

# Pseudo-field: whether the resource still exists (is not tombstoned). Not a column.
EXISTS_FIELD = "exists"

# CloudResource columns that describe live state; every other spec field is an attrs key.
RESOURCE_FIELDS = frozenset(
    {"provider", "kind", "provider_id", "name", "region", "size_slug", "status", "tenant_id"}
)

# Columns a spec may not name, and why: they are bookkeeping or operator attribution, so
# "drift" on them would be noise (last_seen_at changes every sync) or is not DigitalOcean's.
NON_SPEC_FIELDS: Mapping[str, str] = {
    "id": "is the inventory row id, not desired state",
    "attrs": "is the whole attrs object; name the attrs keys themselves (e.g. `vcpus`)",
    "project": "is assigned by operators, not observed from DigitalOcean",
    "project_id": "is assigned by operators, not observed from DigitalOcean",
    "deployment": "is assigned by operators, not observed from DigitalOcean",
    "deployment_id": "is assigned by operators, not observed from DigitalOcean",
    "first_seen_at": "is sync bookkeeping, not desired state",
    "last_seen_at": "is sync bookkeeping, not desired state",
    "stale_strike_count": "is sync bookkeeping, not desired state",
    "deleted_at": "is sync bookkeeping; use `exists` (true / false) for presence",
}

_JSON_TYPE_NAMES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def spec_validate(spec: Any) -> dict[str, Any]:
    """The spec as a plain dict, or a 400 naming `spec` and what is allowed."""
    if not isinstance(spec, dict):
        got = _JSON_TYPE_NAMES.get(type(spec), type(spec).__name__)
        raise field_error(
            "spec",
            'must be a JSON object of field name → desired value, e.g. {"size_slug": '
            f'"s-2vcpu-4gb"}}; got {got}',
        )
    if not spec:
        raise field_error("spec", "must name at least one field")
    for field in spec:
        _validate_field_name(field)
    if EXISTS_FIELD in spec:
        _validate_exists(spec)
    return dict(spec)


def _validate_field_name(field: Any) -> None:
    if not isinstance(field, str) or not field.strip():
        raise field_error("spec", "field names must be non-empty strings")
    if len(field) > FIELD_MAX_LENGTH:
        raise field_error("spec", f"field name `{field[:20]}…` is over {FIELD_MAX_LENGTH} chars")
    if field in NON_SPEC_FIELDS:
        raise field_error("spec", f"`{field}` {NON_SPEC_FIELDS[field]}")


def _validate_exists(spec: Mapping[str, Any]) -> None:
    if not isinstance(spec[EXISTS_FIELD], bool):
        raise field_error("spec", "`exists` must be true or false")
    if spec[EXISTS_FIELD] is False and len(spec) > 1:
        raise field_error(
            "spec",
            "a spec with `exists: false` may name no other field: a resource meant to be "
            "gone has no desired size, region, ...",
        )


def live_value(resource: CloudResource, field: str) -> Any:
    """The top-level column when the field is one, else `attrs[field]` (missing → None)."""
    if field in RESOURCE_FIELDS:
        return getattr(resource, field)
    attrs = resource.attrs if isinstance(resource.attrs, dict) else {}
    return attrs.get(field)


def canonical(value: Any) -> Hashable:
    """A hashable form in which loosely-equal values are equal.

    Scalars become their string form (2, 2.0 and "2" agree; booleans are JSON's true / false);
    lists become sets of canonical elements (order and duplicates ignored); objects become sets
    of (key, canonical value) pairs, so they compare key by key, recursively. Empty values —
    None, "", [], {} — are all "no value", which is also what a missing attrs key or a blank
    column means; an object key holding no value is the same as an absent key.
    """
    if isinstance(value, Mapping):
        pairs = frozenset(
            (str(key), form) for key, item in value.items() if (form := canonical(item)) is not None
        )
        return ("object", pairs) if pairs else None
    if isinstance(value, list | tuple | set | frozenset):
        elements = frozenset(canonical(item) for item in value)
        return ("list", elements) if elements else None
    text = _scalar_text(value)
    return ("scalar", text) if text else None


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def loosely_equal(expected: Any, actual: Any) -> bool:
    return canonical(expected) == canonical(actual)


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: Any
    actual: Any


def find_mismatches(*, spec: Mapping[str, Any], resource: CloudResource) -> list[Mismatch]:
    """Every spec field whose live value differs from the desired one.

    A resource whose existence differs from the spec has only the `exists` mismatch: the fields
    of a gone resource describe the past, and a resource that should be gone has no field spec.
    """
    expected_exists = spec.get(EXISTS_FIELD, True)
    actual_exists = resource.deleted_at is None
    if expected_exists != actual_exists:
        return [Mismatch(EXISTS_FIELD, expected_exists, actual_exists)]
    if not actual_exists:
        return []
    mismatches = []
    for field, expected in spec.items():
        if field == EXISTS_FIELD:
            continue
        actual = live_value(resource, field)
        if not loosely_equal(expected, actual):
            mismatches.append(Mismatch(field, expected, actual))
    return mismatches


def adopt_live_value(spec: Mapping[str, Any], *, field: str, actual: Any) -> dict[str, Any]:
    """The spec after accepting a drift: the field now expects what is live.

    Accepting that a resource no longer exists leaves `{"exists": false}` alone: every other
    expectation described the resource that is gone. Should it reappear, the sweep reports
    `exists` drift again (expected false, actual true).
    """
    if field == EXISTS_FIELD and actual is False:
        return {EXISTS_FIELD: False}
    return {**spec, field: actual}
