"""Catalog reads and the builders that hand the catalog to the quote engine."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from arcadia_cloud.validation import FieldError
from catalog.models import Addon
from catalog.selectors import (
    active_version,
    active_version_required,
    addon_terms,
    addons_for_plan_version,
    current_resource_price,
    plan_terms,
    plans_with_active_version,
    resource_price_book,
)
from catalog.services import addon_deactivate, resource_price_create
from pricing.engine import AddonTerms, PlanItemTerms, PlanTerms, ResourcePriceTerms, quote
from pricing.kinds import BILLING_KINDS
from tests.catalog.factories import make_addon, make_plan, make_version

pytestmark = pytest.mark.django_db


class TestActiveVersion:
    def test_is_what_a_new_signup_gets(self):
        v1 = make_version(make_plan("studio"), publish=True)
        make_version(v1.plan)  # a draft does not count
        assert active_version("studio") == v1
        v3 = make_version(v1.plan, publish=True)
        assert active_version("studio") == v3

    def test_none_for_unknown_or_unpublished_plans(self):
        make_version(make_plan("draft-only"))
        assert active_version("draft-only") is None
        assert active_version("nope") is None

    @pytest.mark.parametrize(
        ("code", "says"), [("draft-only", "no active"), ("nope", "not a plan"), (7, "not a plan")]
    )
    def test_required_names_the_field_and_the_reason(self, code, says):
        make_version(make_plan("draft-only"))
        with pytest.raises(FieldError, match=says) as exc_info:
            active_version_required(code, field="plan_code")
        assert list(exc_info.value.fields) == ["plan_code"]

    def test_plans_list_runs_a_fixed_number_of_queries(self, django_assert_num_queries):
        for n in range(5):
            make_version(make_plan(f"p{n}"), publish=True)
        with django_assert_num_queries(3):
            plans = list(plans_with_active_version())
            items = [i for plan in plans for v in plan.active_versions for i in v.items.all()]
        assert len(plans) == 5 and len(items) == 10


class TestAddonsForPlanVersion:
    @pytest.fixture
    def version(self):
        return make_version(publish=True)  # droplet_hours and spaces_gb_month

    def test_returns_live_addons_in_request_order(self, version):
        a, b = make_addon("b-storage"), make_addon("a-storage")
        assert addons_for_plan_version(version=version, codes=["b-storage", "a-storage"]) == [a, b]

    @pytest.mark.parametrize(
        ("setup", "codes", "says"),
        [
            (lambda: None, ["ghost"], "unknown"),
            (lambda: addon_deactivate(addon=make_addon("old")), ["old"], "inactive"),
            (lambda: make_addon("twice"), ["twice", "twice"], "more than once"),
            (lambda: make_addon("usd", currency="USD"), ["usd"], "priced in USD"),
            (lambda: make_addon("llm", resource_kind="llm_tokens"), ["llm"], "no llm_tokens"),
        ],
    )
    def test_refusals_name_the_field(self, version, setup, codes, says):
        setup()
        with pytest.raises(FieldError, match=says) as exc_info:
            addons_for_plan_version(version=version, codes=codes, field="addons")
        assert list(exc_info.value.fields) == ["addons"]


JAN, JUN = dt.date(2026, 1, 1), dt.date(2026, 6, 1)


class TestResourcePrices:
    @pytest.fixture
    def prices(self):
        resource_price_create(
            resource_kind="volume_gb_month",
            price_cents=15,
            currency="AUD",
            effective_from=JAN,
            effective_to=JUN,
        )
        resource_price_create(
            resource_kind="volume_gb_month", price_cents=20, currency="AUD", effective_from=JUN
        )

    @pytest.mark.parametrize(
        ("day", "cents"),
        [
            (dt.date(2025, 12, 31), None),
            (JAN, 15),
            (dt.date(2026, 5, 31), 15),
            (JUN, 20),  # effective_to is exclusive: the successor prices its first day
            (dt.date(2030, 1, 1), 20),
        ],
    )
    def test_current_price_is_effective_dated(self, prices, day, cents):
        found = current_resource_price("volume_gb_month", day)
        assert (found.price_cents if found else None) == cents

    def test_two_currencies_without_a_choice_is_ambiguous(self, prices):
        resource_price_create(
            resource_kind="volume_gb_month", price_cents=9, currency="USD", effective_from=JAN
        )
        assert current_resource_price("volume_gb_month", JAN, currency="USD").price_cents == 9
        with pytest.raises(FieldError) as exc_info:
            current_resource_price("volume_gb_month", JAN)
        assert list(exc_info.value.fields) == ["currency"]

    def test_the_price_book_reads_once_and_picks_each_day(self, prices, django_assert_num_queries):
        with django_assert_num_queries(1):
            book = resource_price_book(
                currencies=["AUD", "USD"], start=JAN, end=dt.date(2026, 12, 31)
            )
        with django_assert_num_queries(0):
            in_may = book.terms_on(dt.date(2026, 5, 31), "AUD")
            in_june = book.terms_on(JUN, "AUD")
            in_usd = book.terms_on(JUN, "USD")
        assert in_may["volume_gb_month"].price_cents == 15
        assert in_june["volume_gb_month"] == ResourcePriceTerms(
            resource_kind="volume_gb_month", unit="gb_month", price_cents=20, currency="AUD"
        )
        assert in_june["backup_gb_month"] is None
        assert set(in_june) == set(BILLING_KINDS)
        assert in_usd["volume_gb_month"] is None

    def test_the_price_book_holds_only_prices_in_force_in_its_range(self, prices):
        book = resource_price_book(currencies=["AUD"], start=JUN, end=dt.date(2026, 6, 30))
        assert book.terms_on(JUN, "AUD")["volume_gb_month"].price_cents == 20
        assert book.terms_on(dt.date(2026, 5, 31), "AUD")["volume_gb_month"] is None


class TestBuilders:
    def test_plan_terms(self):
        version = make_version(make_plan("studio", name="Studio"), base_price_cents=5000)
        assert plan_terms(version) == PlanTerms(
            plan_code="studio",
            version=1,
            currency="AUD",
            base_price_cents=5000,
            name="Studio",
            items=(
                PlanItemTerms("droplet_hours", Decimal(744), "hour", 1),
                PlanItemTerms("spaces_gb_month", Decimal(25), "gb_month", 2),
            ),
        )

    def test_addon_terms(self):
        addon = make_addon("storage_50gb", qty=50, price_cents=750)
        assert addon_terms([addon]) == (
            AddonTerms("storage_50gb", "An add-on", "spaces_gb_month", Decimal(50), 750),
        )

    def test_spec_worked_example_1_prices_from_the_seeded_catalog(self, seeded):
        """SPEC §17.1: studio + storage_50gb from 20 May 2026 — all-in 6350c."""
        version = active_version("studio")
        addons = addons_for_plan_version(version=version, codes=["storage_50gb"])
        usage = {
            "droplet_hours": Decimal(1488),
            "spaces_gb_month": Decimal(200),
            "llm_tokens": Decimal(1_500_000),
        }
        result = quote(
            plan_terms(version), addon_terms(addons), usage, starts_on=dt.date(2026, 5, 20)
        )
        assert result.recurring.total_cents == 5750
        assert (result.first_invoice.fraction, result.first_invoice.total_cents) == ("12/31", 2225)
        assert [(line.resource_kind, line.amount_cents) for line in result.overage.lines] == [
            ("llm_tokens", 500),
            ("spaces_gb_month", 100),
        ]
        assert result.all_in_monthly_cents == 6350
        assert Addon.objects.get(code="storage_50gb").price_cents == 750
