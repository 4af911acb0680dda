"""The quote engine against SPEC §10 and the worked examples of SPEC §17, to the cent."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from pricing.engine import (
    AddonTerms,
    PlanItemTerms,
    PlanTerms,
    QuoteInputError,
    ResourcePriceTerms,
    period_fraction,
    quote,
)

D = Decimal

# SPEC §8 seed: overage prices are the same on every plan.
SEED_OVERAGE = {
    "droplet_hours": ("hour", 1),
    "spaces_gb_month": ("gb_month", 2),
    "snapshot_gb_month": ("gb_month", 6),
    "bandwidth_gb": ("gb", 1),
    "dns_zones": ("zone", 100),
    "llm_tokens": ("1k_tokens", 1),
}


def seeded_plan(code, base_price_cents, included, *, version=1, hard_caps=None):
    hard_caps = hard_caps or {}
    items = tuple(
        PlanItemTerms(
            resource_kind=kind,
            included_qty=D(qty),
            overage_unit=SEED_OVERAGE[kind][0],
            overage_price_cents=SEED_OVERAGE[kind][1],
            hard_cap_qty=hard_caps.get(kind),
        )
        for kind, qty in included.items()
    )
    return PlanTerms(code, version, "AUD", base_price_cents, items, name=code.title())


def studio(**kwargs):
    included = {
        "droplet_hours": 1488,
        "spaces_gb_month": 100,
        "snapshot_gb_month": 50,
        "bandwidth_gb": 2000,
        "dns_zones": 5,
        "llm_tokens": 1_000_000,
    }
    return seeded_plan("studio", 5000, included, **kwargs)


def starter():
    included = {
        "droplet_hours": 744,
        "spaces_gb_month": 25,
        "snapshot_gb_month": 10,
        "bandwidth_gb": 500,
        "dns_zones": 1,
    }
    return seeded_plan("starter", 2000, included)


STORAGE_50GB = AddonTerms("storage_50gb", "Storage 50 GB", "spaces_gb_month", D(50), 750)
STORAGE_250GB = AddonTerms("storage_250gb", "Storage 250 GB", "spaces_gb_month", D(250), 3000)
LLM_1M_TOKENS = AddonTerms("llm_1m_tokens", "1M LLM tokens", "llm_tokens", D(1_000_000), 1000)
VOLUME_PRICE = ResourcePriceTerms("volume_gb_month", "gb_month", 15, "AUD")


def overage_by_kind(result):
    return {line.resource_kind: line for line in result.overage.lines}


# --- SPEC §17 worked examples ----------------------------------------------------------------


def test_example_1_quote_studio_with_storage_add_on_starting_on_the_20th():
    result = quote(
        studio(),
        [STORAGE_50GB],
        {"droplet_hours": D(1488), "spaces_gb_month": D(200), "llm_tokens": D(1_500_000)},
        starts_on=dt.date(2026, 5, 20),
    )

    assert [(line.kind, line.amount_cents) for line in result.recurring.lines] == [
        ("plan_base", 5000),
        ("addon", 750),
    ]
    assert result.recurring.total_cents == 5750

    assert result.first_invoice.fraction == "12/31"
    assert [line.amount_cents for line in result.first_invoice.lines] == [1935, 290]
    assert result.first_invoice.total_cents == 2225

    overage = overage_by_kind(result)
    assert set(overage) == {"llm_tokens", "spaces_gb_month"}  # no droplet line: at allowance
    llm, spaces = overage["llm_tokens"], overage["spaces_gb_month"]
    assert (llm.qty, llm.unit, llm.unit_price_cents, llm.amount_cents) == (
        D(500),
        "1k_tokens",
        1,
        500,
    )
    assert (spaces.qty, spaces.unit, spaces.unit_price_cents, spaces.amount_cents) == (
        D(50),
        "gb_month",
        2,
        100,
    )
    assert spaces.meta["allowance"] == "150"
    assert result.overage.total_cents == 600
    assert result.all_in_monthly_cents == 6350
    assert result.warnings == ()


def test_example_2_rollup_overage_three_droplets_all_april():
    result = quote(
        studio(),
        [STORAGE_50GB],
        {"droplet_hours": D(3 * 24 * 30)},
        period_start=dt.date(2026, 4, 1),
    )

    droplets = overage_by_kind(result)["droplet_hours"]
    assert (droplets.qty, droplets.amount_cents) == (D(672), 672)
    assert result.first_invoice.fraction == "30/30"
    assert result.first_invoice.total_cents == 5750
    assert result.first_invoice.total_cents + result.overage.total_cents == 6422


def test_example_4_studio_without_add_ons_five_droplets_all_april():
    result = quote(studio(), [], {"droplet_hours": D(5 * 24 * 30)})

    assert overage_by_kind(result)["droplet_hours"].amount_cents == 2112
    assert result.all_in_monthly_cents == 7112


# --- overage ---------------------------------------------------------------------------------


def test_overage_meta_explains_the_amount():
    result = quote(studio(), [STORAGE_50GB], {"spaces_gb_month": D(200)})

    assert overage_by_kind(result)["spaces_gb_month"].meta == {
        "allowance": "150",
        "included": "100",
        "addons": "50",
        "addon_codes": ["storage_50gb"],
        "used": "200",
        "billable": "200",
        "over": "50",
        "units": "50",
        "unit_factor": "1",
        "price_cents": 2,
        "hard_cap": None,
    }


def test_every_add_on_of_a_kind_adds_to_its_allowance():
    result = quote(studio(), [STORAGE_50GB, STORAGE_250GB], {"spaces_gb_month": D(401)})

    spaces = overage_by_kind(result)["spaces_gb_month"]
    assert spaces.meta["allowance"] == "400"
    assert spaces.meta["addon_codes"] == ["storage_250gb", "storage_50gb"]
    assert spaces.amount_cents == 2


@pytest.mark.parametrize("used", [D(0), D(149), D(150), D("150.000000")])
def test_usage_at_or_under_the_allowance_makes_no_line(used):
    result = quote(studio(), [STORAGE_50GB], {"spaces_gb_month": used})

    assert result.overage.lines == ()
    assert result.overage.total_cents == 0


def test_usage_just_over_the_allowance_makes_a_line():
    result = quote(studio(), [STORAGE_50GB], {"spaces_gb_month": D("150.5")})

    spaces = overage_by_kind(result)["spaces_gb_month"]
    assert (spaces.qty, spaces.amount_cents) == (D("0.5"), 1)


def test_hard_cap_clamps_the_billable_usage():
    plan = studio(hard_caps={"droplet_hours": D(2000)})

    result = quote(plan, [], {"droplet_hours": D(5000)})

    droplets = overage_by_kind(result)["droplet_hours"]
    assert droplets.amount_cents == 512
    assert droplets.meta["used"] == "5000"
    assert droplets.meta["billable"] == "2000"
    assert droplets.meta["hard_cap"] == "2000"


def test_hard_cap_at_or_below_the_allowance_means_no_overage_at_all():
    plan = studio(hard_caps={"droplet_hours": D(1000)})

    assert quote(plan, [], {"droplet_hours": D(99_999)}).overage.lines == ()


def test_thousand_token_units_may_be_fractional_and_round_half_up():
    result = quote(studio(), [], {"llm_tokens": D(1_000_500)})

    llm = overage_by_kind(result)["llm_tokens"]
    assert llm.qty == D("0.5")
    assert llm.meta["units"] == "0.5"
    assert llm.amount_cents == 1


def test_overage_rounds_half_up_not_to_even():
    result = quote(studio(), [], {"llm_tokens": D(1_002_500)})

    assert overage_by_kind(result)["llm_tokens"].amount_cents == 3


def test_overage_under_half_a_cent_still_shows_the_usage():
    result = quote(studio(), [], {"llm_tokens": D(1_000_499)})

    llm = overage_by_kind(result)["llm_tokens"]
    assert (llm.qty, llm.amount_cents) == (D("0.499"), 0)


# --- usage the plan does not cover -----------------------------------------------------------


def test_kind_not_in_plan_is_priced_at_the_resource_price_without_allowance():
    result = quote(
        studio(),
        [],
        {"volume_gb_month": D(30)},
        resource_prices={"volume_gb_month": VOLUME_PRICE},
    )

    (line,) = result.overage.lines
    assert (line.kind, line.resource_kind, line.qty, line.unit) == (
        "usage",
        "volume_gb_month",
        D(30),
        "gb_month",
    )
    assert (line.unit_price_cents, line.amount_cents) == (15, 450)
    assert line.meta["priced_by"] == "resource_price"
    assert result.all_in_monthly_cents == 5000 + 450
    assert result.warnings == ()


def test_resource_price_in_thousand_tokens_divides_by_the_factor():
    llm_price = ResourcePriceTerms("llm_tokens", "1k_tokens", 1, "AUD")

    result = quote(
        starter(), [], {"llm_tokens": D(2500)}, resource_prices={"llm_tokens": llm_price}
    )

    (line,) = result.overage.lines
    assert (line.qty, line.unit, line.amount_cents) == (D("2.5"), "1k_tokens", 3)


@pytest.mark.parametrize("resource_prices", [None, {}, {"volume_gb_month": None}])
def test_kind_with_no_price_is_a_zero_line_and_a_warning(resource_prices):
    result = quote(studio(), [], {"volume_gb_month": D("12.5")}, resource_prices=resource_prices)

    (line,) = result.overage.lines
    assert (line.kind, line.resource_kind, line.qty, line.amount_cents) == (
        "usage",
        "volume_gb_month",
        D("12.5"),
        0,
    )
    assert line.meta["unpriced"] is True
    assert len(result.warnings) == 1
    assert "volume_gb_month" in result.warnings[0]
    assert "12.5" in result.warnings[0]


def test_zero_usage_of_a_kind_not_in_plan_makes_no_line_and_no_warning():
    result = quote(studio(), [], {"volume_gb_month": D(0)})

    assert result.overage.lines == ()
    assert result.warnings == ()


def test_add_on_for_a_kind_the_plan_lacks_is_charged_and_flagged():
    result = quote(
        starter(),
        [LLM_1M_TOKENS],
        {"llm_tokens": D(1000)},
        resource_prices={"llm_tokens": ResourcePriceTerms("llm_tokens", "1k_tokens", 1, "AUD")},
    )

    assert result.recurring.total_cents == 3000
    assert overage_by_kind(result)["llm_tokens"].amount_cents == 1
    assert any("llm_1m_tokens" in warning for warning in result.warnings)


# --- first invoice proration -----------------------------------------------------------------


def test_proration_counts_both_the_start_and_the_end_day():
    result = quote(
        studio(), [STORAGE_50GB], {}, starts_on=dt.date(2026, 5, 20), ends_on=dt.date(2026, 5, 25)
    )

    assert result.first_invoice.fraction == "6/31"
    assert [line.amount_cents for line in result.first_invoice.lines] == [968, 145]
    assert result.first_invoice.total_cents == 1113


def test_cancellation_inside_the_month_without_a_start_prorates_from_the_first():
    result = quote(studio(), [], {}, ends_on=dt.date(2026, 5, 10))

    assert result.first_invoice.fraction == "10/31"
    assert result.first_invoice.total_cents == 1613


def test_prorated_line_meta_records_the_fraction_and_the_full_amount():
    result = quote(studio(), [STORAGE_50GB], {}, starts_on=dt.date(2026, 5, 20))

    addon = result.first_invoice.lines[1]
    assert addon.meta["fraction"] == "12/31"
    assert addon.meta["full_amount_cents"] == 750
    assert addon.meta["addon_code"] == "storage_50gb"
    assert addon.description.endswith("20-31 May 2026")


def test_proration_rounds_half_up():
    plan = PlanTerms("tiny", 1, "AUD", 1, ())

    result = quote(plan, [], {}, starts_on=dt.date(2026, 4, 16))

    assert result.first_invoice.fraction == "15/30"
    assert result.first_invoice.total_cents == 1


@pytest.mark.parametrize(
    ("kwargs", "fraction"),
    [
        ({"starts_on": dt.date(2026, 5, 1)}, "31/31"),
        ({"starts_on": dt.date(2026, 2, 1), "ends_on": dt.date(2026, 2, 28)}, "28/28"),
        ({"period_start": dt.date(2026, 4, 1)}, "30/30"),
        ({}, "1/1"),
    ],
)
def test_a_whole_month_is_exactly_the_full_amounts(kwargs, fraction):
    result = quote(studio(), [STORAGE_50GB], {}, **kwargs)

    assert result.first_invoice.fraction == fraction
    assert [line.amount_cents for line in result.first_invoice.lines] == [5000, 750]
    assert result.first_invoice.total_cents == result.recurring.total_cents


def test_period_start_names_the_month_for_a_start_inside_it():
    result = quote(
        studio(), [], {}, starts_on=dt.date(2026, 4, 21), period_start=dt.date(2026, 4, 1)
    )

    assert result.first_invoice.fraction == "10/30"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((dt.date(2026, 5, 20), None), (12, 31)),
        ((dt.date(2026, 5, 20), dt.date(2026, 5, 25)), (6, 31)),
        ((None, dt.date(2026, 2, 3)), (3, 28)),
        ((dt.date(2028, 2, 29), None), (1, 29)),
        ((None, None, dt.date(2026, 6, 1)), (30, 30)),
        ((None, None), (1, 1)),
    ],
)
def test_period_fraction(args, expected):
    assert period_fraction(*args) == expected


# --- shape and determinism -------------------------------------------------------------------


def test_to_dict_is_the_api_response_shape_and_json_safe():
    result = quote(
        studio(),
        [STORAGE_50GB],
        {"llm_tokens": D("1500000.000000")},
        starts_on=dt.date(2026, 5, 20),
    )

    body = json.loads(json.dumps(result.to_dict()))
    assert set(body) == {
        "plan_code",
        "plan_version",
        "currency",
        "recurring",
        "first_invoice",
        "overage",
        "all_in_monthly_cents",
        "warnings",
    }
    assert (body["plan_code"], body["plan_version"], body["currency"]) == ("studio", 1, "AUD")
    assert set(body["first_invoice"]) == {"fraction", "lines", "total_cents"}
    assert body["first_invoice"]["fraction"] == "12/31"
    assert set(body["recurring"]) == {"lines", "total_cents"}
    (llm,) = body["overage"]["lines"]
    assert llm == {
        "kind": "overage",
        "resource_kind": "llm_tokens",
        "description": "LLM tokens beyond the 1000000 token allowance",
        "qty": "500",
        "unit": "1k_tokens",
        "unit_price_cents": 1,
        "amount_cents": 500,
        "meta": {
            "allowance": "1000000",
            "included": "1000000",
            "addons": "0",
            "addon_codes": [],
            "used": "1500000",
            "billable": "1500000",
            "over": "500000",
            "units": "500",
            "unit_factor": "1000",
            "price_cents": 1,
            "hard_cap": None,
        },
    }
    assert body["recurring"]["lines"][0]["resource_kind"] is None
    assert body["warnings"] == []


def test_to_dict_shares_nothing_mutable_with_the_quote():
    """A caller may change the body it is given (the API's idempotent replay keeps one); the
    frozen quote's lines must not change with it, nested lists included."""
    result = quote(
        studio(), [STORAGE_50GB], {"llm_tokens": D("1500000")}, starts_on=dt.date(2026, 5, 20)
    )
    body = result.to_dict()
    before = json.loads(json.dumps(body))
    (line,) = body["overage"]["lines"]
    line["meta"]["addon_codes"].append("changed")
    line["meta"]["used"] = "changed"
    assert result.to_dict() == before
    assert result.overage.lines[0].meta["addon_codes"] == []


def test_lines_are_sorted_whatever_the_input_order():
    usage = {
        "volume_gb_month": D(1),
        "spaces_gb_month": D(1000),
        "droplet_hours": D(2000),
        "bandwidth_gb": D(3000),
    }
    prices = {"volume_gb_month": VOLUME_PRICE}

    forward = quote(studio(), [STORAGE_50GB, STORAGE_250GB], usage, resource_prices=prices)
    backward = quote(
        studio(),
        [STORAGE_250GB, STORAGE_50GB],
        dict(reversed(usage.items())),
        resource_prices=prices,
    )

    assert forward == backward
    assert [line.meta.get("addon_code") for line in forward.recurring.lines] == [
        None,
        "storage_250gb",
        "storage_50gb",
    ]
    assert [line.resource_kind for line in forward.overage.lines] == [
        "bandwidth_gb",
        "droplet_hours",
        "spaces_gb_month",
        "volume_gb_month",
    ]


def test_snapshotted_add_on_price_is_what_is_charged():
    grandfathered = AddonTerms("storage_50gb", "Storage 50 GB", "spaces_gb_month", D(50), 600)

    assert quote(studio(), [grandfathered], {}).recurring.total_cents == 5600


# --- invalid input ---------------------------------------------------------------------------


def assert_rejects(field, call, match=None):
    with pytest.raises(QuoteInputError, match=match) as excinfo:
        call()
    assert excinfo.value.field == field
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("usage", "field", "match"),
    [
        ({"gpu_hours": D(1)}, "usage[gpu_hours]", "'gpu_hours' is not a billing kind"),
        ({"droplet_hours": D(-1)}, "usage[droplet_hours]", "must not be negative"),
        ({"droplet_hours": "lots"}, "usage[droplet_hours]", "not an exact number"),
        ({"droplet_hours": 1.5}, "usage[droplet_hours]", "not an exact number"),
        ({"droplet_hours": D("NaN")}, "usage[droplet_hours]", "not a finite number"),
        ({"droplet_hours": D("Infinity")}, "usage[droplet_hours]", "not a finite number"),
    ],
)
def test_bad_usage_is_rejected_naming_the_kind(usage, field, match):
    assert_rejects(field, lambda: quote(studio(), [], usage), match)


def test_usage_as_int_or_numeric_string_is_accepted_exactly():
    result = quote(studio(), [], {"droplet_hours": 1489, "bandwidth_gb": "2000.5"})

    assert result.overage.total_cents == 1 + 1


@pytest.mark.parametrize(
    ("dates", "field", "match"),
    [
        ({"starts_on": dt.date(2026, 5, 25), "ends_on": dt.date(2026, 5, 20)}, "ends_on", "before"),
        ({"starts_on": dt.date(2026, 5, 25), "ends_on": dt.date(2026, 6, 2)}, "ends_on", "2026-05"),
        (
            {"starts_on": dt.date(2026, 4, 30), "period_start": dt.date(2026, 5, 1)},
            "starts_on",
            "not in the billed month 2026-05",
        ),
        ({"period_start": dt.date(2026, 5, 2)}, "period_start", "first day of a month"),
        ({"starts_on": dt.datetime(2026, 5, 2, 10, 0)}, "starts_on", "must be a date"),
        ({"ends_on": "2026-05-02"}, "ends_on", "must be a date"),
    ],
)
def test_bad_dates_are_rejected_naming_the_field(dates, field, match):
    assert_rejects(field, lambda: quote(studio(), [], {}, **dates), match)


def test_resource_price_in_another_currency_is_rejected():
    usd = ResourcePriceTerms("volume_gb_month", "gb_month", 15, "USD")

    assert_rejects(
        "resource_prices[volume_gb_month]",
        lambda: quote(
            studio(), [], {"volume_gb_month": D(1)}, resource_prices={"volume_gb_month": usd}
        ),
        "is in USD but plan studio bills in AUD",
    )


def test_resource_price_of_another_kind_is_rejected():
    assert_rejects(
        "resource_prices[backup_gb_month]",
        lambda: quote(
            studio(),
            [],
            {"backup_gb_month": D(1)},
            resource_prices={"backup_gb_month": VOLUME_PRICE},
        ),
        "is the price of volume_gb_month",
    )


@pytest.mark.parametrize(
    ("build", "field", "match"),
    [
        (
            lambda: PlanItemTerms("droplet_hours", D(1), "gb", 1, None),
            "items[droplet_hours].overage_unit",
            "'gb' cannot price droplet_hours; use hour",
        ),
        (
            lambda: PlanItemTerms("llm_tokens", D(1), "tokens", 1, None),
            "items[llm_tokens].overage_unit",
            "'tokens' is not a unit",
        ),
        (
            lambda: PlanItemTerms("gpu_hours", D(1), "hour", 1, None),
            "items[gpu_hours].resource_kind",
            "not a billing kind",
        ),
        (
            lambda: PlanItemTerms("droplet_hours", D(-1), "hour", 1, None),
            "items[droplet_hours].included_qty",
            "must not be negative",
        ),
        (
            lambda: PlanItemTerms("droplet_hours", D(1), "hour", D("1.5"), None),
            "items[droplet_hours].overage_price_cents",
            "whole number of cents",
        ),
        (
            lambda: PlanItemTerms("droplet_hours", D(1), "hour", 1, D(-5)),
            "items[droplet_hours].hard_cap_qty",
            "must not be negative",
        ),
        (
            lambda: PlanTerms("studio", 1, "aud", 5000, ()),
            "currency",
            "ISO 4217",
        ),
        (lambda: PlanTerms("studio", 0, "AUD", 5000, ()), "version", "positive integer"),
        (lambda: PlanTerms("studio", 1, "AUD", -1, ()), "base_price_cents", "must not be negative"),
        (lambda: PlanTerms("", 1, "AUD", 1, ()), "plan_code", "must not be blank"),
        (
            lambda: PlanTerms(
                "studio",
                1,
                "AUD",
                5000,
                (
                    PlanItemTerms("dns_zones", D(1), "zone", 100),
                    PlanItemTerms("dns_zones", D(5), "zone", 100),
                ),
            ),
            "items[dns_zones]",
            "at most one item per kind",
        ),
        (
            lambda: AddonTerms("x", "X", "spaces_gb_month", D(-50), 750),
            "addons[x].qty",
            "must not be negative",
        ),
        (
            lambda: AddonTerms("x", "X", "spaces", D(50), 750),
            "addons[x].resource_kind",
            "not a billing kind",
        ),
        (
            lambda: ResourcePriceTerms("volume_gb_month", "hour", 15, "AUD"),
            "resource_prices[volume_gb_month].unit",
            "cannot price volume_gb_month",
        ),
    ],
)
def test_bad_terms_are_rejected_when_built(build, field, match):
    assert_rejects(field, build, match)


def test_terms_normalize_quantities_to_decimal():
    item = PlanItemTerms("droplet_hours", 1488, "hour", 1, "2000")

    assert (item.included_qty, item.hard_cap_qty) == (D(1488), D(2000))
    assert PlanTerms("p", 1, "AUD", 1, [item]).items == (item,)


# --- purity ----------------------------------------------------------------------------------
