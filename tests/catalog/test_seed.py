"""`manage.py seed_catalog`: exactly SPEC §8, idempotent, never editing a published version."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from catalog.models import Addon, Plan, PlanItem, PlanVersion, ResourcePrice
from catalog.seed import catalog_seed
from catalog.services import addon_update, plan_version_create, plan_version_publish
from tests.catalog.factories import item

pytestmark = pytest.mark.django_db

# SPEC §8, typed out again on purpose: the seed module is checked against the spec, not itself.
KINDS = (
    "droplet_hours",
    "spaces_gb_month",
    "snapshot_gb_month",
    "bandwidth_gb",
    "dns_zones",
    "llm_tokens",
)
SPEC_PLANS = {
    "starter": (2000, (744, 25, 10, 500, 1, None)),
    "studio": (5000, (1488, 100, 50, 2000, 5, 1_000_000)),
    "pro": (12000, (3720, 500, 200, 5000, 20, 5_000_000)),
}
SPEC_OVERAGE = {
    "droplet_hours": (1, "hour"),
    "spaces_gb_month": (2, "gb_month"),
    "snapshot_gb_month": (6, "gb_month"),
    "bandwidth_gb": (1, "gb"),
    "dns_zones": (100, "zone"),
    "llm_tokens": (1, "1k_tokens"),
}
SPEC_ADDONS = {
    "storage_50gb": ("spaces_gb_month", Decimal(50), 750),
    "storage_250gb": ("spaces_gb_month", Decimal(250), 3000),
    "llm_1m_tokens": ("llm_tokens", Decimal(1_000_000), 1000),
}
SPEC_RESOURCE_PRICES = {
    "volume_gb_month": (15, "gb_month"),
    "backup_gb_month": (5, "gb_month"),
    "load_balancer_hours": (2, "hour"),
    "floating_ip_hours": (1, "hour"),
    # issue 17: every kind inventory syncs has a list price
    "gpu_droplet_hours": (500, "hour"),
    "database_node_hours": (3, "hour"),
    "kubernetes_node_hours": (2, "hour"),
    "app_instance_hours": (1, "hour"),
    "custom_image_gb_month": (6, "gb_month"),
    "registry_gb_month": (2, "gb_month"),
    "reserved_ipv6_hours": (1, "hour"),
}


def catalog_snapshot() -> dict:
    """Every catalog row, field by field (timestamps included: a re-run must not touch them)."""
    return {
        model.__name__: sorted(
            (
                model_to_dict(row, fields=[f.name for f in model._meta.fields])
                for row in model.objects.all()
            ),
            key=lambda row: row["id"],
        )
        for model in (Plan, PlanVersion, PlanItem, Addon, ResourcePrice)
    }


def test_seed_creates_exactly_spec_section_8():
    catalog_seed()
    assert set(Plan.objects.values_list("code", flat=True)) == set(SPEC_PLANS)
    for code, (base, included) in SPEC_PLANS.items():
        version = PlanVersion.objects.get(plan__code=code)
        assert (version.number, version.status, version.currency) == (1, "active", "AUD")
        assert version.base_price_cents == base
        items = {
            i.resource_kind: (i.included_qty, i.overage_price_cents, i.overage_unit, i.hard_cap_qty)
            for i in version.items.all()
        }
        expected = {
            kind: (Decimal(qty), *SPEC_OVERAGE[kind], None)
            for kind, qty in zip(KINDS, included, strict=True)
            if qty is not None
        }
        assert items == expected
    assert "llm_tokens" not in set(
        PlanItem.objects.filter(version__plan__code="starter").values_list(
            "resource_kind", flat=True
        )
    )
    addons = {
        a.code: (a.resource_kind, a.qty, a.price_cents)
        for a in Addon.objects.filter(is_active=True, currency="AUD")
    }
    assert addons == SPEC_ADDONS
    prices = {
        p.resource_kind: (p.price_cents, p.unit)
        for p in ResourcePrice.objects.filter(
            currency="AUD", effective_from=dt.date(2026, 1, 1), effective_to=None, size_scope=""
        )
    }
    assert prices == SPEC_RESOURCE_PRICES
    # Issue 18: cost-plus prices by size family for kinds no plan covers.
    cost_plus = {
        (p.resource_kind, p.size_scope): (p.markup_percent, p.price_cents, p.unit)
        for p in ResourcePrice.objects.filter(
            currency="AUD", effective_from=dt.date(2026, 1, 1), effective_to=None
        ).exclude(size_scope="")
    }
    assert cost_plus == {
        ("gpu_droplet_hours", "gpu-"): (Decimal(25), 0, "hour"),
        ("database_node_hours", "db-"): (Decimal(30), 0, "hour"),
        ("kubernetes_node_hours", "s-"): (Decimal(30), 0, "hour"),
    }
    assert ResourcePrice.objects.count() == len(SPEC_RESOURCE_PRICES) + len(cost_plus)


def test_a_second_run_changes_nothing():
    first = catalog_seed()
    before = catalog_snapshot()
    second = catalog_seed()
    assert first.changed and not second.changed
    assert catalog_snapshot() == before
    assert all("unchanged" in line for line in second.lines)


def test_the_command_prints_what_it_did():
    out = io.StringIO()
    call_command("seed_catalog", stdout=out)
    assert "plan studio: published v1" in out.getvalue()
    out = io.StringIO()
    call_command("seed_catalog", stdout=out)
    assert "nothing changed" in out.getvalue()


def test_different_terms_make_a_new_draft_never_an_edit():
    catalog_seed()
    # An operator published studio v2 with a different allowance; the seed disagrees with it.
    studio = Plan.objects.get(code="studio")
    v2 = plan_version_create(
        plan=studio,
        base_price_cents=5500,
        currency="AUD",
        items=[item("droplet_hours", 2000, 1)],
        actor="ops",
    )
    plan_version_publish(version=v2, actor="ops")
    active_before = model_to_dict(PlanVersion.objects.get(pk=v2.pk))

    report = catalog_seed()

    assert any("created DRAFT v3" in line for line in report.lines)
    versions = dict(studio.versions.values_list("number", "status"))
    assert versions == {1: "retired", 2: "active", 3: "draft"}
    assert model_to_dict(PlanVersion.objects.get(pk=v2.pk)) == active_before
    assert PlanVersion.objects.get(plan=studio, number=3).base_price_cents == 5000
    # Running again finds the draft already holding the seed terms: no second draft.
    again = catalog_seed()
    assert not again.changed
    assert studio.versions.count() == 3


def test_operator_changes_to_addons_are_kept():
    catalog_seed()
    addon_update(addon=Addon.objects.get(code="storage_50gb"), price_cents=800)
    report = catalog_seed()
    assert not report.changed
    assert Addon.objects.get(code="storage_50gb").price_cents == 800
    assert any("storage_50gb: differs" in line for line in report.lines)
