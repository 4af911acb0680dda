"""Issue 18: prices that follow what a resource is, in the pure kernel — size scopes (most
specific wins), usage priced size by size, a plan allowance limited to small sizes, cost-plus
unit prices rounded once per line. Every figure is computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arcadia_cloud.validation import FieldError
from pricing import sizes
from pricing.engine import (
    PlanItemTerms,
    PlanTerms,
    ResourcePriceTerms,
    SizeUsage,
    quote,
)

D = Decimal


def price(cents: int, scope: str = "", kind: str = "droplet_hours", **kwargs) -> ResourcePriceTerms:
    return ResourcePriceTerms(kind, "hour", cents, "AUD", size_scope=scope, **kwargs)


def plan(*items: PlanItemTerms) -> PlanTerms:
    return PlanTerms("studio", 1, "AUD", 5000, items=items)


def studio_droplets(**kwargs) -> PlanItemTerms:
    return PlanItemTerms("droplet_hours", D(1488), "hour", 1, **kwargs)


def usage_lines(result):
    return [line for line in result.overage.lines if line.kind == "usage"]


# -- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "winner"),
    [
        ("gpu-h100x1-80gb", "exact"),  # the exact slug beats both prefixes
        ("gpu-h100x8-640gb", "gpu-h100"),  # the longer prefix beats the shorter one
        ("gpu-mi300x1-192gb", "gpu"),
        ("s-1vcpu-1gb", "unscoped"),
        ("", "unscoped"),  # usage of an unknown size: only an unscoped price covers it
    ],
)
def test_the_most_specific_scope_wins(slug, winner):
    candidates = [
        ("", "unscoped"),
        ("gpu-", "gpu"),
        ("gpu-h100x1-80gb", "exact"),
        ("gpu-h100x8-", "gpu-h100"),  # a longer family prefix
        ("gpu-h100", "never"),  # no trailing dash: the slug "gpu-h100" only, not a prefix
    ]
    assert sizes.most_specific(slug, candidates) == winner


def test_a_prefix_ends_in_a_dash_and_an_exact_slug_does_not():
    assert sizes.scope_matches("s-", "s-1vcpu-1gb")
    assert not sizes.scope_matches("s-1vcpu", "s-1vcpu-1gb")
    assert sizes.scope_matches("s-1vcpu-1gb", "s-1vcpu-1gb")
    assert sizes.most_specific("g-2vcpu-8gb", [("gd-", 1), ("g-", 2), ("", 3)]) == 2


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("m-99vcpu-1gb", "not a size in DigitalOcean's price list"),
        ("zz-", "no size in DigitalOcean's price list starts with"),
        ("S-1VCPU", "is not a size scope"),
        (7, "is not a size scope"),
    ],
)
def test_an_unknown_slug_or_prefix_is_refused_naming_the_field(scope, message):
    with pytest.raises(FieldError) as exc_info:
        sizes.clean_scope("size_scope", scope, known_slugs=["s-1vcpu-1gb", "m-24vcpu-192gb"])
    assert exc_info.value.field == "size_scope"
    assert message in exc_info.value.message


# -- the engine -------------------------------------------------------------------------------


def test_a_24_vcpu_droplet_is_priced_by_its_size_price():
    """720 hours of m-24vcpu-192gb at its size price of 250c/h = 180,000c (AUD 1,800.00); the
    plan has no droplet item, and a 1 GB droplet's 720 hours take the unscoped 1c/h = 720c."""
    entries = [
        SizeUsage("droplet_hours", "m-24vcpu-192gb", D(720), price(250, "m-24vcpu-192gb")),
        SizeUsage("droplet_hours", "s-1vcpu-1gb", D(720), price(1)),
    ]
    result = quote(plan(), [], {"droplet_hours": D(1440)}, sized_usage=entries)

    big, small = usage_lines(result)
    assert (big.meta["size_slug"], big.qty, big.unit_price_cents, big.amount_cents) == (
        "m-24vcpu-192gb",
        D(720),
        250,
        180_000,
    )
    assert "m-24vcpu-192gb" in big.description
    assert big.meta["price_scope"] == "m-24vcpu-192gb"
    assert (small.meta["size_slug"], small.amount_cents) == ("s-1vcpu-1gb", 720)
    assert result.overage.total_cents == 180_720


def test_a_studio_allowance_covers_only_small_sizes():
    """Studio includes 1,488 droplet hours of s-* sizes up to 4 GB, 1c/h beyond.
    - s-1vcpu-1gb 744 h (1 GB) and s-2vcpu-4gb 1,000 h (4 GB) are covered: 1,744 - 1,488 = 256 h
      over at 1c = 256c;
    - s-4vcpu-8gb 100 h (8 GB) is not (too much memory): at the s- family price 3c = 300c;
    - m-24vcpu-192gb 720 h is not (not s-): at its size price 250c = 180,000c."""
    item = studio_droplets(size_scopes=("s-",), max_memory_mb=4096)
    entries = [
        SizeUsage("droplet_hours", "s-1vcpu-1gb", D(744), price(3, "s-"), memory_mb=1024),
        SizeUsage("droplet_hours", "s-2vcpu-4gb", D(1000), price(3, "s-"), memory_mb=4096),
        SizeUsage("droplet_hours", "s-4vcpu-8gb", D(100), price(3, "s-"), memory_mb=8192),
        SizeUsage(
            "droplet_hours",
            "m-24vcpu-192gb",
            D(720),
            price(250, "m-24vcpu-192gb"),
            memory_mb=196608,
        ),
    ]
    result = quote(plan(item), [], {"droplet_hours": D(2564)}, sized_usage=entries)

    by_slug = {line.meta.get("size_slug", "allowance"): line for line in result.overage.lines}
    overage = by_slug["allowance"]
    assert (overage.kind, overage.qty, overage.amount_cents) == ("overage", D(256), 256)
    assert overage.meta["covered_sizes"] == ["s-1vcpu-1gb", "s-2vcpu-4gb"]
    assert overage.meta["used"] == "1744"
    assert by_slug["s-4vcpu-8gb"].amount_cents == 300
    assert by_slug["m-24vcpu-192gb"].amount_cents == 180_000
    assert result.overage.total_cents == 256 + 300 + 180_000
    assert result.warnings == ()


def test_small_sizes_within_the_allowance_cost_nothing_and_a_large_one_is_still_priced():
    item = studio_droplets(size_scopes=("s-",), max_memory_mb=4096)
    entries = [
        SizeUsage("droplet_hours", "s-1vcpu-1gb", D(1488), price(1), memory_mb=1024),
        SizeUsage("droplet_hours", "m-24vcpu-192gb", D(10), price(250, "m-24vcpu-192gb")),
    ]
    result = quote(plan(item), [], {"droplet_hours": D(1498)}, sized_usage=entries)

    (line,) = result.overage.lines
    assert (line.meta["size_slug"], line.amount_cents) == ("m-24vcpu-192gb", 2500)


def test_a_cost_plus_unit_price_is_exact_and_the_line_is_rounded_once():
    """A GPU hour listed at USD 3.39, +25 %, at 1.52 AUD a USD: 339 x 1.25 x 1.52 = 644.1c an
    hour (shown as 644c); 7 hours = 4,508.7c, rounded half-up once to 4,509c (7 x 644 would be
    4,508c)."""
    gpu = ResourcePriceTerms(
        "gpu_droplet_hours",
        "hour",
        644,
        "AUD",
        size_scope="gpu-",
        exact_price_cents=D("644.1000"),
        basis=(("markup_percent", "25"), ("fx_rate", "1.52")),
    )
    entries = [SizeUsage("gpu_droplet_hours", "gpu-h100x1-80gb", D(7), gpu)]
    result = quote(plan(), [], {"gpu_droplet_hours": D(7)}, sized_usage=entries)

    (line,) = result.overage.lines
    assert (line.unit_price_cents, line.amount_cents) == (644, 4509)
    assert line.meta["priced_by"] == "cost_plus"
    assert line.meta["exact_price_cents"] == "644.1"
    assert (line.meta["markup_percent"], line.meta["fx_rate"]) == ("25", "1.52")


def test_a_size_with_no_price_is_an_unpriced_line_with_the_reason():
    entries = [
        SizeUsage(
            "gpu_droplet_hours",
            "gpu-h100x1-80gb",
            D(7),
            None,
            unpriced_reason="no USD→AUD rate at or before 2026-04",
        )
    ]
    result = quote(plan(), [], {"gpu_droplet_hours": D(7)}, sized_usage=entries)

    (line,) = result.overage.lines
    assert (line.amount_cents, line.meta["unpriced"], line.meta["size_slug"]) == (
        0,
        True,
        "gpu-h100x1-80gb",
    )
    (warning,) = result.warnings
    assert "no USD→AUD rate at or before 2026-04" in warning
    assert "gpu-h100x1-80gb" in warning


def test_a_size_price_in_another_currency_is_refused_naming_the_size():
    usd = ResourcePriceTerms("droplet_hours", "hour", 1, "USD")
    with pytest.raises(FieldError) as exc_info:
        quote(
            plan(),
            [],
            {},
            sized_usage=[SizeUsage("droplet_hours", "s-1vcpu-1gb", D(1), usd)],
        )
    assert exc_info.value.field == "sized_usage[droplet_hours:s-1vcpu-1gb].price"


def test_without_sized_usage_the_engine_prices_as_before():
    result = quote(plan(studio_droplets()), [], {"droplet_hours": D(1500)})
    (line,) = result.overage.lines
    assert (line.qty, line.amount_cents) == (D(12), 12)
