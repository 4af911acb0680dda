"""Issue 18 through the one pricing path: metered usage by size, size-scoped and cost-plus
prices resolved by the loader, a studio allowance limited to small sizes — and the quote, the
invoice (rollup) agreeing to the cent. Every figure is computed by hand in the comments.

April 2026 has 30 days = 720 hours; a droplet running all April is 720 droplet hours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import CALLER_ERRORS, Conflict
from catalog.models import ResourcePrice
from catalog.provider_prices import ListedPrice
from catalog.services import provider_prices_sync, resource_price_create
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceLine
from invoicing.quotes.services import quote_preview
from tests.analytics.factories import make_rate
from tests.catalog.factories import item, make_plan, make_version
from tests.conftest import TENANT_A
from tests.inventory.factories import make_resource
from tests.invoicing.factories import APRIL, meter, subscriber

pytestmark = pytest.mark.django_db

D = Decimal
LIST_DAY = dt.date(2026, 1, 1)


def _listed(kind, slug, hourly, monthly, memory=None):
    return ListedPrice(kind, slug, "hour", D(hourly), D(monthly), "/v2/sizes", memory_mb=memory)


@pytest.fixture(autouse=True)
def price_list():
    """DigitalOcean's list as synced on 1 January (hourly USD as /v2/sizes states it)."""
    provider_prices_sync(
        listed=[
            _listed("droplet", "s-1vcpu-1gb", "0.00893", "6.00", 1024),
            _listed("droplet", "s-2vcpu-4gb", "0.03571", "24.00", 4096),
            _listed("droplet", "s-4vcpu-8gb", "0.07143", "48.00", 8192),
            _listed("droplet", "m-24vcpu-192gb", "1.50000", "1008.00", 196608),
            _listed("droplet", "gpu-h100x1-80gb", "3.39", "2278.08", 245760),
        ],
        today=LIST_DAY,
    )


def studio(*, scopes=("s-",), max_memory_mb=4096):
    """A studio-like plan: AUD 50, 1,488 droplet hours of s-* sizes up to 4 GB, 1c/h beyond."""
    version = make_version(
        make_plan("studio"),
        base_price_cents=5000,
        items=[
            item(
                "droplet_hours",
                1488,
                1,
                allowance_sizes=scopes,
                allowance_max_memory_mb=max_memory_mb,
            )
        ],
        publish=True,
    )
    return version


def droplet(deployment, slug, kind="droplet"):
    return make_resource(kind, deployment=deployment, status="active", size_slug=slug)


def rolled_lines(tenant_id=TENANT_A):
    report = roll_up_period(APRIL)
    assert not report.failed, report.failed
    invoice = TenantInvoice.objects.get(tenant_id=tenant_id, period_start=APRIL)
    lines = TenantInvoiceLine.objects.filter(invoice=invoice).exclude(kind="tax")
    return invoice, list(lines.order_by("id"))


def aud(kind, cents, scope="", **kwargs):
    return resource_price_create(
        resource_kind=kind,
        price_cents=cents,
        currency="AUD",
        effective_from=LIST_DAY,
        size_scope=scope,
        **kwargs,
    )


def test_a_24_vcpu_droplet_is_priced_by_its_size_and_a_studio_allowance_covers_small_ones():
    """Studio covers s-* up to 4 GB. April: two s-1vcpu-1gb (1,440 h) and one s-2vcpu-4gb
    (720 h) = 2,160 covered hours, 672 over at 1c = 672c; one s-4vcpu-8gb (8 GB: not covered)
    720 h at the s- family price 3c = 2,160c; one m-24vcpu-192gb 720 h at its exact price
    250c = 180,000c (the unscoped 1c would have billed 720c)."""
    studio()
    aud("droplet_hours", 1)
    aud("droplet_hours", 3, "s-")
    aud("droplet_hours", 250, "m-24vcpu-192gb")
    deployment = subscriber(TENANT_A, addons=())
    for slug in ("s-1vcpu-1gb", "s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "m-24vcpu-192gb"):
        droplet(deployment, slug)
    meter()

    invoice, lines = rolled_lines()

    usage = {
        (line.kind, line.meta.get("size_slug")): (
            line.qty,
            line.unit_price_cents,
            line.amount_cents,
        )
        for line in lines
        if line.kind != "plan_base"
    }
    assert usage == {
        ("overage", None): (D(672), 1, 672),
        ("usage", "s-4vcpu-8gb"): (D(720), 3, 2160),
        ("usage", "m-24vcpu-192gb"): (D(720), 250, 180_000),
    }
    big = next(line for line in lines if line.meta.get("size_slug") == "m-24vcpu-192gb")
    assert "m-24vcpu-192gb" in big.description
    assert invoice.subtotal_cents == 5000 + 672 + 2160 + 180_000


def test_a_gpu_hour_at_cost_plus_converted_at_the_periods_fx_rate():
    """GPU droplets at cost-plus +25 %: DO lists gpu-h100x1-80gb at USD 3.39 an hour; April's
    rate is 1 USD = 1.52 AUD, so an hour is 339c x 1.25 x 1.52 = 644.1 AUD cents (shown 644c).
    A GPU droplet running all April: 720 h x 644.1c = 463,752c exactly (no rounding needed)."""
    studio()
    make_rate(dt.date(2026, 3, 1), "1.40")  # an older rate: the latest at or before April wins
    make_rate(APRIL, "1.52")
    aud("gpu_droplet_hours", 0, "gpu-", markup_percent=D(25))
    deployment = subscriber(TENANT_A, addons=())
    make_resource(
        "droplet",
        deployment=deployment,
        status="active",
        size_slug="gpu-h100x1-80gb",
        attrs={"gpu_count": 1},
    )
    meter()

    _, lines = rolled_lines()

    gpu_lines = [line for line in lines if line.resource_kind == "gpu_droplet_hours"]
    assert gpu_lines, [(line.resource_kind, line.description) for line in lines]
    (line,) = gpu_lines
    assert (line.qty, line.unit_price_cents, line.amount_cents) == (D(720), 644, 463_752)
    assert line.meta["priced_by"] == "cost_plus"
    assert line.meta["exact_price_cents"] == "644.1"
    assert (line.meta["list_price_usd"], line.meta["markup_percent"]) == ("3.39", "25")
    assert (line.meta["fx_rate"], line.meta["fx_period"]) == ("1.52", "2026-04-01")


def test_no_fx_rate_leaves_the_cost_plus_line_unpriced_with_a_warning():
    studio()
    aud("gpu_droplet_hours", 0, "gpu-", markup_percent=D(25))
    deployment = subscriber(TENANT_A, addons=())
    make_resource(
        "droplet",
        deployment=deployment,
        status="active",
        size_slug="gpu-h100x1-80gb",
        attrs={"gpu_count": 1},
    )
    meter()

    report = roll_up_period(APRIL)

    invoice = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=APRIL)
    (line,) = TenantInvoiceLine.objects.filter(invoice=invoice, resource_kind="gpu_droplet_hours")
    assert (line.amount_cents, line.meta["unpriced"]) == (0, True)
    assert invoice.subtotal_cents == 5000
    (result,) = report.results
    (warning,) = [w for w in result.warnings if "gpu_droplet_hours" in w]
    assert "no USD→AUD rate at or before 2026-04" in warning
    assert "gpu-h100x1-80gb" in warning


def test_a_quote_prices_projected_usage_by_size_as_the_invoice_prices_metered_usage():
    """The same month of usage, metered (rollup) and projected (quote): the same lines."""
    studio()
    make_rate(APRIL, "1.52")
    aud("droplet_hours", 1)
    aud("droplet_hours", 250, "m-24vcpu-192gb")
    aud("gpu_droplet_hours", 0, "gpu-", markup_percent=D(25))
    deployment = subscriber(TENANT_A, addons=())
    droplet(deployment, "s-1vcpu-1gb")
    droplet(deployment, "m-24vcpu-192gb")
    make_resource(
        "droplet",
        deployment=deployment,
        status="active",
        size_slug="gpu-h100x1-80gb",
        attrs={"gpu_count": 1},
    )
    meter()
    invoice, lines = rolled_lines()

    quoted = quote_preview(
        plan_code="studio",
        addon_codes=[],
        projected_usage={"droplet_hours": D(1440), "gpu_droplet_hours": D(720)},
        projected_usage_by_size={
            "droplet_hours": {"s-1vcpu-1gb": D(720), "m-24vcpu-192gb": D(720)},
            "gpu_droplet_hours": {"gpu-h100x1-80gb": D(720)},
        },
        starts_on=None,
        today=APRIL,
    )

    def shape(found):
        return sorted(
            (line.resource_kind, line.meta.get("size_slug"), line.qty, line.amount_cents)
            for line in found
        )

    assert shape(quoted.overage.lines) == shape(
        [line for line in lines if line.kind in ("overage", "usage")]
    )
    assert shape(quoted.overage.lines) == [
        ("droplet_hours", "m-24vcpu-192gb", D(720), 180_000),
        ("gpu_droplet_hours", "gpu-h100x1-80gb", D(720), 463_752),
    ]
    assert quoted.all_in_monthly_cents == invoice.subtotal_cents


# -- bad input ----------------------------------------------------------------------------------


def _field(exc_info) -> list[str]:
    exc = exc_info.value
    fields = getattr(exc, "fields", None)
    return sorted(fields) if fields else [exc.field]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size_scope": "m-99vcpu-7gb"}, "size_scope"),  # not in the synced price list
        ({"size_scope": "zz-"}, "size_scope"),  # no known size has the prefix
        ({"markup_percent": D("-100.01")}, "markup_percent"),
        ({"markup_percent": "lots"}, "markup_percent"),
        ({"markup_percent": D(10), "price_cents": 5}, "price_cents"),
    ],
)
def test_bad_scoped_or_cost_plus_prices_are_refused_naming_the_field(kwargs, field):
    values = {"resource_kind": "droplet_hours", "price_cents": 0, **kwargs}
    with pytest.raises(CALLER_ERRORS) as exc_info:
        resource_price_create(currency="AUD", effective_from=LIST_DAY, **values)
    assert _field(exc_info) == [field]
    assert not ResourcePrice.objects.exists()


def test_a_markup_of_exactly_minus_100_is_allowed():
    price = aud("droplet_hours", 0, "s-", markup_percent=D(-100))
    assert price.is_cost_plus


def test_overlapping_prices_of_one_scope_are_refused_and_other_scopes_may_overlap():
    aud("droplet_hours", 1)
    aud("droplet_hours", 3, "s-")
    aud("droplet_hours", 250, "m-24vcpu-192gb")
    with pytest.raises(Conflict) as exc_info:
        aud("droplet_hours", 4, "s-")
    assert list(exc_info.value.fields) == ["size_scope"]
    assert ResourcePrice.objects.filter(size_scope="s-").count() == 1


def test_a_studio_item_limited_to_an_unknown_size_is_refused_naming_the_item():
    with pytest.raises(CALLER_ERRORS) as exc_info:
        make_version(items=[item("droplet_hours", 1, 1, allowance_sizes=("q-",))])
    assert _field(exc_info) == ["items[0].allowance_sizes[0]"]


def test_live_accrual_on_the_months_last_day_equals_the_size_priced_invoice():
    from analytics.selectors import live_accrual

    studio()
    make_rate(APRIL, "1.52")
    aud("droplet_hours", 1)
    aud("droplet_hours", 250, "m-24vcpu-192gb")
    aud("gpu_droplet_hours", 0, "gpu-", markup_percent=D(25))
    deployment = subscriber(TENANT_A, addons=())
    droplet(deployment, "m-24vcpu-192gb")
    make_resource(
        "droplet",
        deployment=deployment,
        status="active",
        size_slug="gpu-h100x1-80gb",
        attrs={"gpu_count": 1},
    )
    meter()

    accrued = live_accrual(dt.date(2026, 4, 30))
    invoice, _ = rolled_lines()

    (tenant,) = accrued["tenants"]
    # 5,000 base + 180,000 (720 h x 250c) + 463,752 (720 h x 644.1c)
    assert tenant["subtotal_cents"] == invoice.subtotal_cents == 5000 + 180_000 + 463_752


# -- the quote API: usage by size -----------------------------------------------------------------

QUOTE = "/api/v1/quote"


def test_the_quote_api_takes_usage_by_size_and_prices_it_as_the_service_does(tenant_a_api):
    """A tenant developer quotes a month of one large and one GPU droplet: the API prices the
    split by size like the service (and so like the invoice, above) — the 24-vCPU hours at
    250c, not the unscoped 1c; each kind's total filled in from its sizes."""
    studio()
    make_rate(APRIL, "1.52")
    aud("droplet_hours", 1)
    aud("droplet_hours", 250, "m-24vcpu-192gb")
    aud("gpu_droplet_hours", 0, "gpu-", markup_percent=D(25))
    by_size = {
        "droplet_hours": {"s-1vcpu-1gb": "720", "m-24vcpu-192gb": "720"},
        "gpu_droplet_hours": {"gpu-h100x1-80gb": "720"},
    }
    response = tenant_a_api.post(
        QUOTE, {"plan_code": "studio", "projected_usage_by_size": by_size}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    expected = quote_preview(
        plan_code="studio",
        addon_codes=[],
        projected_usage={"droplet_hours": D(1440), "gpu_droplet_hours": D(720)},
        projected_usage_by_size={
            kind: {slug: D(qty) for slug, qty in sizes.items()} for kind, sizes in by_size.items()
        },
        starts_on=None,
        today=utc_today(),
    )
    assert body["all_in_monthly_cents"] == expected.all_in_monthly_cents
    overage = sorted(
        (line["resource_kind"], line["meta"].get("size_slug"), line["amount_cents"])
        for line in body["overage"]["lines"]
    )
    assert ("droplet_hours", "m-24vcpu-192gb", 180_000) in overage


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"projected_usage_by_size": {"droplet_hours": {"s-99vcpu-1tb": 10}}},
            "projected_usage_by_size.droplet_hours.s-99vcpu-1tb",
        ),
        (
            {"projected_usage_by_size": {"droplet_hours": {"s-1vcpu-1gb": -1}}},
            "projected_usage_by_size.droplet_hours.s-1vcpu-1gb",
        ),
        (
            {"projected_usage_by_size": {"no_such_kind": {"s-1vcpu-1gb": 1}}},
            "projected_usage_by_size.no_such_kind",
        ),
        (
            {"projected_usage_by_size": {"droplet_hours": {}}},
            "projected_usage_by_size.droplet_hours",
        ),
        (
            {
                "projected_usage": {"droplet_hours": 100},
                "projected_usage_by_size": {"droplet_hours": {"s-1vcpu-1gb": 90}},
            },
            "projected_usage_by_size.droplet_hours",
        ),
        ({"projected_usage_by_size": ["s-1vcpu-1gb"]}, "projected_usage_by_size"),
    ],
)
def test_bad_usage_by_size_is_a_400_naming_the_entry(tenant_a_api, body, field):
    studio()
    response = tenant_a_api.post(QUOTE, {"plan_code": "studio", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
