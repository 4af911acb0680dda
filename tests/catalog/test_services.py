"""Catalog writes: draft versions, publishing (also under a race), add-ons, resource prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from arcadia_cloud.errors import Conflict, InvalidStateChange
from arcadia_cloud.validation import FieldError
from catalog.models import PlanVersion, PlanVersionStatus, ResourcePrice
from catalog.services import (
    addon_activate,
    addon_deactivate,
    addon_update,
    plan_create,
    plan_version_publish,
    plan_version_update_items,
    resource_price_create,
)
from tests.catalog.concurrency import run_concurrently
from tests.catalog.factories import ACTOR, item, make_addon, make_plan, make_version

pytestmark = pytest.mark.django_db


def field_of(exc_info) -> list[str]:
    return list(exc_info.value.fields)


class TestPlanVersionCreate:
    def test_versions_are_drafts_numbered_after_the_latest(self):
        plan = make_plan()
        first = make_version(plan, publish=True)
        second = make_version(plan)
        third = make_version(plan, base_price_cents=3000)
        assert (first.number, second.number, third.number) == (1, 2, 3)
        assert second.status == third.status == PlanVersionStatus.DRAFT
        assert [i.resource_kind for i in third.items.order_by("id")] == [
            "droplet_hours",
            "spaces_gb_month",
        ]
        assert third.created_by == ACTOR

    def test_the_overage_unit_defaults_to_the_kinds_registry_unit(self):
        version = make_version(items=[item("llm_tokens", 1_000_000, 1)])
        assert version.items.get().overage_unit == "1k_tokens"

    @pytest.mark.parametrize(
        ("items", "field"),
        [
            ([item("droplet_hours", 1, 1), item("droplet_hours", 2, 1)], "items[1].resource_kind"),
            ([item("cpu_hours", 1, 1)], "items[0].resource_kind"),
            ([item("droplet_hours", 1, 1, overage_unit="gb")], "items[0].overage_unit"),
            ([item("droplet_hours", 1, 1, overage_unit="parsec")], "items[0].overage_unit"),
            ([item("dns_zones", 1, 1), item("droplet_hours", -1, 1)], "items[1].included_qty"),
            ([item("droplet_hours", "0.0000001", 1)], "items[0].included_qty"),
            ([item("droplet_hours", 1, -5)], "items[0].overage_price_cents"),
            ([item("droplet_hours", 1, 2**31)], "items[0].overage_price_cents"),
            (
                [item("droplet_hours", 1, 1, hard_cap_qty=Decimal(-1))],
                "items[0].hard_cap_qty",
            ),
        ],
    )
    def test_bad_items_are_refused_naming_the_item(self, items, field):
        with pytest.raises(FieldError) as exc_info:
            make_version(items=items)
        assert field_of(exc_info) == [field]
        assert PlanVersion.objects.count() == 0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"currency": "aud"}, "currency"),
            ({"base_price_cents": -1}, "base_price_cents"),
            ({"base_price_cents": 2**31}, "base_price_cents"),  # the int4 column's limit + 1
        ],
    )
    def test_bad_terms_are_refused(self, kwargs, field):
        with pytest.raises(FieldError) as exc_info:
            make_version(**kwargs)
        assert field_of(exc_info) == [field]

    def test_a_duplicate_plan_code_names_code(self):
        make_plan("studio")
        with pytest.raises(FieldError) as exc_info:
            plan_create(code="studio", name="Again")
        assert field_of(exc_info) == ["code"]


class TestDraftEditing:
    def test_a_drafts_items_are_replaced(self):
        draft = make_version()
        plan_version_update_items(version=draft, items=[item("dns_zones", 5, 100)])
        assert [(i.resource_kind, i.included_qty) for i in draft.items.all()] == [
            ("dns_zones", Decimal(5))
        ]

    @pytest.mark.parametrize("retire", [False, True])
    def test_published_and_retired_versions_are_immutable(self, retire):
        version = make_version(publish=True)
        if retire:
            make_version(version.plan, publish=True)
        with pytest.raises(Conflict, match="immutable"):
            plan_version_update_items(version=version, items=[item("dns_zones", 5, 100)])
        assert version.items.count() == 2


class TestPublish:
    def test_publishing_retires_the_prior_active_version(self):
        v1 = make_version(publish=True)
        v2 = make_version(v1.plan, base_price_cents=2500)
        outcome = plan_version_publish(version=v2, actor="ops")
        v1.refresh_from_db()
        v2.refresh_from_db()
        assert outcome.retired == v1
        assert (v1.status, v2.status) == (PlanVersionStatus.RETIRED, PlanVersionStatus.ACTIVE)
        assert v1.retired_at == v2.published_at is not None
        assert v2.published_by == "ops"

    def test_the_first_publish_retires_nothing(self):
        outcome = plan_version_publish(version=make_version(), actor="ops")
        assert outcome.retired is None

    def test_only_a_draft_can_be_published(self):
        version = make_version(publish=True)
        with pytest.raises(InvalidStateChange, match="only a draft"):
            plan_version_publish(version=version, actor="ops")


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_two_publishes_racing_leave_exactly_one_active_version(self):
        v1 = make_version(publish=True)
        v2, v3 = make_version(v1.plan), make_version(v1.plan)
        results = run_concurrently(
            lambda: plan_version_publish(version=v2, actor="a"),
            lambda: plan_version_publish(version=v3, actor="b"),
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        statuses = dict(PlanVersion.objects.filter(plan=v1.plan).values_list("number", "status"))
        assert list(statuses.values()).count(PlanVersionStatus.ACTIVE) == 1
        assert statuses[1] == PlanVersionStatus.RETIRED
        assert sorted([statuses[2], statuses[3]]) == [
            PlanVersionStatus.ACTIVE,
            PlanVersionStatus.RETIRED,
        ]

    def test_the_same_draft_published_twice_at_once_is_published_once(self):
        draft = make_version()
        results = run_concurrently(
            lambda: plan_version_publish(version=draft, actor="a"),
            lambda: plan_version_publish(version=draft, actor="b"),
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], InvalidStateChange)
        assert PlanVersion.objects.get(pk=draft.pk).status == PlanVersionStatus.ACTIVE

    def test_concurrent_creates_get_distinct_numbers(self):
        plan = make_plan()
        results = run_concurrently(*[lambda: make_version(plan) for _ in range(4)])
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(plan.versions.values_list("number", flat=True)) == [1, 2, 3, 4]


class TestAddons:
    def test_duplicate_code_names_code(self):
        make_addon("storage_50gb")
        with pytest.raises(FieldError) as exc_info:
            make_addon("storage_50gb")
        assert field_of(exc_info) == ["code"]

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"resource_kind": "gpu_hours"}, "resource_kind"),
            ({"qty": -1}, "qty"),
            ({"price_cents": -1}, "price_cents"),
            ({"price_cents": 2**31}, "price_cents"),
            ({"currency": "dollars"}, "currency"),
        ],
    )
    def test_bad_input_names_the_field(self, kwargs, field):
        with pytest.raises(FieldError) as exc_info:
            make_addon(**kwargs)
        assert field_of(exc_info) == [field]

    def test_deactivate_activate_and_update(self):
        addon = make_addon(price_cents=750)
        assert addon_deactivate(addon=addon).is_active is False
        assert addon_activate(addon=addon).is_active is True
        updated = addon_update(addon=addon, price_cents=900, name="Bigger")
        addon.refresh_from_db()
        assert (updated.price_cents, addon.price_cents, addon.name) == (900, 900, "Bigger")


JAN = dt.date(2026, 1, 1)
JUN = dt.date(2026, 6, 1)


def price(effective_from=JAN, effective_to=None, *, cents=15, currency="AUD", **kwargs):
    return resource_price_create(
        resource_kind=kwargs.pop("resource_kind", "volume_gb_month"),
        price_cents=cents,
        currency=currency,
        effective_from=effective_from,
        effective_to=effective_to,
        **kwargs,
    )


class TestResourcePrices:
    def test_the_unit_defaults_from_the_registry(self):
        assert price(resource_kind="load_balancer_hours").unit == "hour"

    def test_a_price_beyond_its_int4_column_names_price_cents(self):
        with pytest.raises(FieldError) as exc_info:
            price(cents=2**31)
        assert field_of(exc_info) == ["price_cents"]
        assert price(cents=2**31 - 1).price_cents == 2**31 - 1

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ((JAN, None), (JUN, None)),
            ((JAN, JUN), (dt.date(2026, 5, 31), None)),
            ((JUN, None), (JAN, dt.date(2026, 6, 2))),
            ((JAN, None), (JAN, JUN)),
        ],
    )
    def test_overlapping_ranges_are_a_conflict(self, first, second):
        existing = price(*first)
        with pytest.raises(Conflict) as exc_info:
            price(*second, cents=20)
        assert field_of(exc_info) == ["effective_from"]
        assert f"id {existing.pk}" in exc_info.value.message

    def test_adjacent_ranges_and_other_currencies_do_not_overlap(self):
        price(JAN, JUN)
        price(JUN, None, cents=20)
        price(JAN, None, currency="USD", cents=10)
        assert ResourcePrice.objects.count() == 3

    def test_supersede_ends_the_open_ended_predecessor(self):
        old = price(JAN, None)
        new = price(JUN, None, cents=20, supersede=True)
        old.refresh_from_db()
        assert (old.effective_to, new.effective_from, new.effective_to) == (JUN, JUN, None)

    def test_supersede_never_hides_a_real_overlap(self):
        price(JAN, None)
        with pytest.raises(Conflict):
            price(JAN, None, cents=20, supersede=True)  # same start: not a successor

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"effective_to": JAN}, "effective_to"),
            ({"unit": "gb"}, "unit"),
            ({"cents": -1}, "price_cents"),
            ({"currency": "Aud"}, "currency"),
        ],
    )
    def test_bad_input_names_the_field(self, kwargs, field):
        with pytest.raises(FieldError) as exc_info:
            price(**kwargs)
        assert field_of(exc_info) == [field]
