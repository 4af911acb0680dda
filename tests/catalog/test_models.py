"""Database constraints of the catalog, and the model-level immutability of published versions."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import (
    ImmutableVersionError,
    PlanItem,
    PlanVersion,
    PlanVersionStatus,
    ResourcePrice,
)
from catalog.services import plan_version_publish
from tests.catalog.factories import make_plan, make_version

pytestmark = pytest.mark.django_db


def violates(constraint: str):
    """The write fails on exactly this constraint (PostgreSQL names it in the error)."""
    return pytest.raises(IntegrityError, match=rf'"{re.escape(constraint)}"')


def test_a_plan_has_at_most_one_active_version_in_the_database():
    active = make_version(publish=True)
    draft = make_version(active.plan)
    with violates("plan_one_active_version"), transaction.atomic():
        PlanVersion.objects.filter(pk=draft.pk).update(
            status=PlanVersionStatus.ACTIVE, published_at=timezone.now()
        )


def test_version_numbers_are_unique_per_plan():
    version = make_version()
    with violates("plan_version_number_unique"), transaction.atomic():
        PlanVersion.objects.create(
            plan=version.plan, number=version.number, base_price_cents=1, currency="AUD"
        )
    other_plan_same_number = PlanVersion.objects.create(
        plan=make_plan(), number=version.number, base_price_cents=1, currency="AUD"
    )
    assert other_plan_same_number.pk


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"base_price_cents": -1}, "plan_version_base_price_non_negative"),
        ({"currency": "aud"}, "plan_version_currency_iso4217"),
        ({"currency": "AU"}, "plan_version_currency_iso4217"),
        ({"currency": "A1D"}, "plan_version_currency_iso4217"),
        ({"number": 0}, "plan_version_number_positive"),
        # active without published_at, and a draft with one
        ({"status": PlanVersionStatus.ACTIVE}, "plan_version_lifecycle_timestamps"),
        (
            {"published_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            "plan_version_lifecycle_timestamps",
        ),
    ],
)
def test_version_checks(fields, constraint):
    values = {"plan": make_plan(), "number": 1, "base_price_cents": 100, "currency": "AUD"}
    with violates(constraint), transaction.atomic():
        PlanVersion.objects.create(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"included_qty": Decimal("-1")}, "plan_item_included_non_negative"),
        ({"overage_price_cents": -1}, "plan_item_price_non_negative"),
        ({"hard_cap_qty": Decimal("-0.5")}, "plan_item_hard_cap_non_negative"),
        # the factory's version already has this kind
        ({"resource_kind": "droplet_hours"}, "plan_item_unique_kind"),
    ],
)
def test_item_checks(fields, constraint):
    version = make_version()
    values = {
        "version": version,
        "resource_kind": "dns_zones",
        "included_qty": Decimal(1),
        "overage_unit": "zone",
        "overage_price_cents": 100,
    }
    with violates(constraint), transaction.atomic():
        PlanItem.objects.create(**{**values, **fields})


def test_resource_price_range_must_not_be_empty():
    with violates("resource_price_range_not_empty"), transaction.atomic():
        ResourcePrice.objects.create(
            resource_kind="volume_gb_month",
            unit="gb_month",
            price_cents=15,
            currency="AUD",
            effective_from=dt.date(2026, 1, 1),
            effective_to=dt.date(2026, 1, 1),
        )


def test_overlapping_resource_prices_are_refused_by_postgresql(on_postgres):
    if not on_postgres:
        pytest.skip("the exclusion constraint exists on PostgreSQL only")
    common = {"resource_kind": "volume_gb_month", "unit": "gb_month", "currency": "AUD"}
    ResourcePrice.objects.create(
        **common, price_cents=15, effective_from=dt.date(2026, 1, 1), effective_to=None
    )
    with violates("resource_price_no_overlap"), transaction.atomic():
        ResourcePrice.objects.create(**common, price_cents=20, effective_from=dt.date(2026, 6, 1))
    # Another currency, or an adjacent range, is fine.
    ResourcePrice.objects.create(
        **{**common, "currency": "USD"}, price_cents=10, effective_from=dt.date(2026, 6, 1)
    )
    ResourcePrice.objects.create(
        **common,
        price_cents=12,
        effective_from=dt.date(2025, 1, 1),
        effective_to=dt.date(2026, 1, 1),
    )


class TestPublishedVersionsAreImmutable:
    def test_saving_changed_terms_is_refused(self):
        version = make_version(publish=True)
        version.base_price_cents = 1
        with pytest.raises(ImmutableVersionError):
            version.save()
        version.refresh_from_db()
        assert version.base_price_cents == 2000

    def test_a_stale_in_memory_draft_cannot_overwrite_a_published_version(self):
        draft = make_version()
        stale = PlanVersion.objects.get(pk=draft.pk)
        plan_version_publish(version=draft, actor="test")
        stale.base_price_cents = 1
        with pytest.raises(ImmutableVersionError):
            stale.save()

    def test_items_of_a_published_version_cannot_change_or_go(self):
        version = make_version(publish=True)
        item = version.items.first()
        item.included_qty = Decimal(1)
        with pytest.raises(ImmutableVersionError):
            item.save()
        with pytest.raises(ImmutableVersionError):
            item.delete()
        with pytest.raises(ImmutableVersionError):
            PlanItem(
                version=version,
                resource_kind="dns_zones",
                included_qty=1,
                overage_unit="zone",
                overage_price_cents=1,
            ).save()

    def test_a_published_version_cannot_be_deleted(self):
        version = make_version(publish=True)
        with pytest.raises(ImmutableVersionError):
            version.delete()

    def test_drafts_stay_editable(self):
        version = make_version()
        version.base_price_cents = 2500
        version.save()
        item = version.items.first()
        item.included_qty = Decimal(10)
        item.save()
        assert PlanItem.objects.get(pk=item.pk).included_qty == 10
