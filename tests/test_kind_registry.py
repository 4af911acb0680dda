"""One registry of resource kinds (`pricing.kinds.RESOURCE_KINDS`): every place in the code that
names a kind — inventory's choices, its syncs and normalizers, metering, the classification of
DigitalOcean invoice lines — names one the registry holds, and inventory's choices are exactly
the registry's."""

from __future__ import annotations

from billing import classify
from inventory import normalize, schedules, sync
from inventory.models import ResourceKind
from invoicing.usage import metering
from pricing.kinds import RESOURCE_KINDS

NOT_KINDS = {sync.PROJECTS, sync.BACKUPS, classify.KIND_OTHER}


def test_inventorys_kind_choices_are_the_registrys():
    assert ResourceKind.choices == [(kind.code, kind.label) for kind in RESOURCE_KINDS.values()]
    assert ResourceKind.DROPLET == "droplet" and ResourceKind.DROPLET.label == "Droplet"


def test_metering_meters_the_registrys_metered_kinds_by_their_registered_rule():
    registered = tuple(kind for kind in RESOURCE_KINDS.values() if kind.is_state_metered)
    assert registered == metering.METERED_KINDS
    assert all(kind is RESOURCE_KINDS[kind.code] for kind in metering.METERED_KINDS)


def named_kinds() -> dict[str, set[str]]:
    schedule_targets = {
        spec.kwargs["target"] for spec in schedules.SCHEDULES if spec.task == "inventory.sync"
    }
    return {
        "inventory.sync.SYNC_TARGETS": set(sync.SYNC_TARGETS) - NOT_KINDS,
        "inventory.sync.DEDICATED_KINDS": set(sync.DEDICATED_KINDS),
        "inventory.sync.PROJECT_KINDS": set(sync.PROJECT_KINDS),
        "inventory.normalize.URN_KIND_MAP": set(normalize.URN_KIND_MAP.values()),
        "inventory.normalize.NORMALIZERS": set(normalize.NORMALIZERS),
        "inventory.schedules.SCHEDULES": schedule_targets - NOT_KINDS,
        "billing.classify.KIND_RULES": {kind for _, kind in classify.KIND_RULES},
        "billing.classify.DERIVED_KINDS": set(classify.DERIVED_KINDS) - NOT_KINDS,
        "billing.classify.MATCH_KIND": set(classify.MATCH_KIND) | set(classify.MATCH_KIND.values()),
        "billing.classify.PLACEHOLDER_KINDS": set(classify.PLACEHOLDER_KINDS),
    }


def test_every_kind_sync_normalize_and_classify_name_is_registered():
    unregistered = {
        where: sorted(kinds - set(RESOURCE_KINDS)) for where, kinds in named_kinds().items()
    }
    assert {where: kinds for where, kinds in unregistered.items() if kinds} == {}
    assert all(kinds for kinds in named_kinds().values()), "a table above is empty"


def test_every_kind_synced_on_its_own_has_a_normalizer():
    assert set(sync.LISTERS) <= set(normalize.NORMALIZERS)
