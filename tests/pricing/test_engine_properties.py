"""Properties the quote engine must keep for any plan, add-ons, usage and dates."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from arcadia_cloud.periods import days_in_month
from pricing.engine import (
    AddonTerms,
    PlanItemTerms,
    PlanTerms,
    ResourcePriceTerms,
    quote,
)
from pricing.kinds import BILLING_KINDS, compatible_units

bounded = settings(max_examples=200, deadline=None)

KINDS = sorted(BILLING_KINDS)

quantities = st.decimals(
    min_value=0, max_value=10_000_000, places=6, allow_nan=False, allow_infinity=False
)
cents = st.integers(min_value=0, max_value=100_000)


@st.composite
def plan_items(draw, kind):
    return PlanItemTerms(
        resource_kind=kind,
        included_qty=draw(quantities),
        overage_unit=draw(st.sampled_from(compatible_units(kind))),
        overage_price_cents=draw(cents),
        hard_cap_qty=draw(st.none() | quantities),
    )


@st.composite
def plans(draw):
    kinds = draw(st.lists(st.sampled_from(KINDS), unique=True, max_size=len(KINDS)))
    items = tuple(draw(plan_items(kind)) for kind in kinds)
    return PlanTerms("plan", draw(st.integers(1, 9)), "AUD", draw(cents), items)


addons = st.lists(
    st.builds(
        AddonTerms,
        code=st.sampled_from(["a", "b", "c"]),
        name=st.just("Add-on"),
        resource_kind=st.sampled_from(KINDS),
        qty=quantities,
        price_cents=cents,
    ),
    max_size=4,
)

usages = st.dictionaries(st.sampled_from(KINDS), quantities, max_size=len(KINDS))


@st.composite
def resource_price_maps(draw):
    prices = {}
    for kind in KINDS:
        if draw(st.booleans()):
            unit = draw(st.sampled_from(compatible_units(kind)))
            prices[kind] = ResourcePriceTerms(kind, unit, draw(cents), "AUD")
        else:
            prices[kind] = None
    return prices


@st.composite
def active_spans(draw):
    """(starts_on, ends_on) inside one month, either side possibly open."""
    month = draw(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 1)))
    length = days_in_month(month)
    first, last = sorted(draw(st.lists(st.integers(1, length), min_size=2, max_size=2)))
    starts_on = draw(st.sampled_from([None, month.replace(day=first)]))
    ends_on = draw(st.sampled_from([None, month.replace(day=last)]))
    return starts_on, ends_on


def half_up(value):
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@bounded
@given(plans(), addons, usages, resource_price_maps(), active_spans())
def test_every_total_is_the_sum_of_its_lines(plan, addon_list, usage, prices, span):
    starts_on, ends_on = span
    result = quote(
        plan, addon_list, usage, resource_prices=prices, starts_on=starts_on, ends_on=ends_on
    )

    for section in (result.recurring, result.first_invoice, result.overage):
        assert section.total_cents == sum(line.amount_cents for line in section.lines)
    assert result.all_in_monthly_cents == result.recurring.total_cents + result.overage.total_cents


@bounded
@given(plans(), addons, usages, resource_price_maps())
def test_usage_lines_are_never_negative_and_are_explained_by_qty_and_price(
    plan, addon_list, usage, prices
):
    result = quote(plan, addon_list, usage, resource_prices=prices)

    for line in result.overage.lines:
        assert line.amount_cents >= 0
        assert line.qty > 0
        assert line.amount_cents == half_up(line.qty * line.unit_price_cents)


@bounded
@given(plans(), addons, usages)
def test_an_overage_line_exists_exactly_when_billable_usage_exceeds_the_allowance(
    plan, addon_list, usage
):
    result = quote(plan, addon_list, usage)

    charged = {line.resource_kind for line in result.overage.lines if line.kind == "overage"}
    for item in plan.items:
        used = usage.get(item.resource_kind, Decimal(0))
        billable = used if item.hard_cap_qty is None else min(used, item.hard_cap_qty)
        allowance = item.included_qty + sum(
            (addon.qty for addon in addon_list if addon.resource_kind == item.resource_kind),
            Decimal(0),
        )
        assert (item.resource_kind in charged) == (billable > allowance)


@bounded
@given(plans(), addons, usages, resource_price_maps(), st.sampled_from(KINDS), quantities)
def test_more_usage_never_costs_less(plan, addon_list, usage, prices, kind, extra):
    more = {**usage, kind: usage.get(kind, Decimal(0)) + extra}

    before = quote(plan, addon_list, usage, resource_prices=prices)
    after = quote(plan, addon_list, more, resource_prices=prices)

    assert after.overage.total_cents >= before.overage.total_cents
    assert after.all_in_monthly_cents >= before.all_in_monthly_cents


@bounded
@given(plans(), addons, st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_a_start_on_the_first_is_exactly_the_full_month(plan, addon_list, day):
    first = day.replace(day=1)

    result = quote(plan, addon_list, {}, starts_on=first)

    length = days_in_month(first)
    assert result.first_invoice.fraction == f"{length}/{length}"
    assert [line.amount_cents for line in result.first_invoice.lines] == [
        line.amount_cents for line in result.recurring.lines
    ]
    assert result.first_invoice.total_cents == result.recurring.total_cents


@bounded
@given(plans(), addons, active_spans())
def test_each_prorated_line_is_within_half_a_cent_of_the_exact_fraction(plan, addon_list, span):
    starts_on, ends_on = span

    result = quote(plan, addon_list, {}, starts_on=starts_on, ends_on=ends_on)

    active_days, length = map(int, result.first_invoice.fraction.split("/"))
    for full, prorated in zip(result.recurring.lines, result.first_invoice.lines, strict=True):
        exact = Fraction(full.amount_cents * active_days, length)
        assert abs(prorated.amount_cents - exact) <= Fraction(1, 2)
        assert prorated.meta["full_amount_cents"] == full.amount_cents
