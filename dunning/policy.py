"""The dunning policy: the default one, and the one way to change a policy (audited)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from arcadia_cloud.errors import field_error
from dunning.models import DunningPolicy, DunningPolicyChange

EDITABLE = (
    "name",
    "is_default",
    "reminder_offsets",
    "past_due_after_days",
    "suspend_after_days",
    "power_off_on_suspend",
)
MAX_OFFSET_DAYS = 365
DEFAULTS = {
    "name": "default",
    "is_default": True,
    "reminder_offsets": [-3, 1, 7],
    "past_due_after_days": 3,
    "suspend_after_days": 14,
    "power_off_on_suspend": False,
}


def default_policy() -> DunningPolicy:
    """The policy the daily task applies (created with the defaults above when there is none)."""
    policy = DunningPolicy.objects.filter(is_default=True).first()
    if policy is None:
        policy, _ = DunningPolicy.objects.get_or_create(name=DEFAULTS["name"], defaults=DEFAULTS)
    return policy


def clean_reminder_offsets(value: object) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise field_error("reminder_offsets", "must be a list of whole days, e.g. [-3, 1, 7]")
    if any(abs(item) > MAX_OFFSET_DAYS for item in value):
        raise field_error("reminder_offsets", f"each offset is within ±{MAX_OFFSET_DAYS} days")
    return sorted(set(value))


@transaction.atomic
def dunning_policy_save(
    *, policy: DunningPolicy, values: Mapping[str, Any], actor: str
) -> DunningPolicy:
    """Create or change a policy; the change (before → after) is audited with its actor. Making
    a policy the default takes the flag from the previous default, audited too."""
    values = dict(values)
    if "reminder_offsets" in values:
        values["reminder_offsets"] = clean_reminder_offsets(values["reminder_offsets"])
    past_due = values.get("past_due_after_days", policy.past_due_after_days)
    suspend = values.get("suspend_after_days", policy.suspend_after_days)
    if suspend is not None and past_due is not None and suspend < past_due:
        raise field_error(
            "suspend_after_days",
            f"must be at least past_due_after_days ({past_due}): past_due comes first",
        )
    before = {name: getattr(policy, name) for name in EDITABLE} if policy.pk else {}
    for name in EDITABLE:
        if name in values:
            setattr(policy, name, values[name])
    if policy.is_default:
        previous = DunningPolicy.objects.filter(is_default=True).exclude(pk=policy.pk).first()
        if previous is not None:
            previous.is_default = False
            previous.save(update_fields=["is_default", "updated_at"])
            _audit(previous, {"is_default": [True, False]}, actor)
    policy.save()
    after = {name: getattr(policy, name) for name in EDITABLE}
    changes = {
        name: [before.get(name), after[name]]
        for name in EDITABLE
        if before.get(name) != after[name]
    }
    if changes:
        _audit(policy, changes, actor)
    return policy


def _audit(policy: DunningPolicy, changes: dict, actor: str) -> None:
    DunningPolicyChange.objects.create(policy=policy, actor=actor, changes=changes)
