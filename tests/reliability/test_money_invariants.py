"""Money exactness, over generated catalogs, subscriptions and usage (Hypothesis, bounded).

- every invoice adds up: total = subtotal + tax = the sum of its lines; subtotal = the non-tax
  lines; tax = rate x subtotal rounded half-up once; every line is non-negative and, except the
  prorated recurring lines, reads qty x unit price = amount before its one rounding;
- a quote and the invoice agree: the rollup's lines for a subscription are exactly what the
  quote engine gives for the same terms and the same metered usage, and what the tenant's price
  preview (`quote_preview`, behind POST /api/v1/quote) showed for that usage;
- no float anywhere near money: the product's modules are scanned for `float(...)`, float
  literals and `FloatField`.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog.seed import catalog_seed
from catalog.selectors import addon_terms, plan_terms, resource_price_book
from catalog.services import (
    PlanItemInput,
    addon_create,
    plan_create,
    plan_version_create,
    plan_version_publish,
)
from deployments.models import Subscription
from deployments.services import subscription_create
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
from invoicing.quotes.services import quote_preview
from invoicing.usage.selectors import usage_for_period
from pricing.engine import quote
from pricing.kinds import BILLING_KINDS
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import APRIL, APRIL_END, add_usage, cancel_on, llm_charges
from tests.services import ROOT, rolled_back

ACTOR = "test:money"
TENANT = "tenant-money"
KINDS = sorted(BILLING_KINDS)
# Kinds a plan includes in the seed; the others are list-priced (or unpriced) when used.
PLAN_KINDS = [k for k in KINDS if k not in {"volume_gb_month", "backup_gb_month"}]
EXAMPLES = 40

qty = st.decimals(min_value=0, max_value=20_000, places=6, allow_nan=False, allow_infinity=False)
charge = st.decimals(min_value=0, max_value=50, places=8, allow_nan=False, allow_infinity=False)


@st.composite
def catalogs(draw):
    items = draw(
        st.dictionaries(
            st.sampled_from(PLAN_KINDS),
            st.tuples(qty, st.integers(0, 400), st.none() | qty),
            max_size=5,
        )
    )
    addon_kinds = sorted(items)
    addons = []
    if addon_kinds:  # an add-on extends an allowance: only for a kind the plan includes
        addons = draw(
            st.lists(st.tuples(st.sampled_from(addon_kinds), qty, st.integers(0, 5000)), max_size=2)
        )
    return {"base": draw(st.integers(0, 50_000)), "items": items, "addons": addons}


@st.composite
def subscriptions(draw):
    start = draw(st.dates(dt.date(2026, 3, 1), APRIL_END))
    cancel = draw(st.none() | st.dates(max(start, APRIL), APRIL_END))
    return {
        "start": start,
        "cancel": cancel,
        "usage": draw(st.dictionaries(st.sampled_from(KINDS), qty, max_size=4)),
        "llm": draw(st.lists(charge, max_size=4)),
    }


def build_catalog(spec) -> str:
    plan = plan_create(code="generated", name="Generated")
    version = plan_version_create(
        plan=plan,
        base_price_cents=spec["base"],
        currency="AUD",
        items=[
            PlanItemInput(
                resource_kind=kind,
                included_qty=included,
                overage_price_cents=price,
                hard_cap_qty=None if cap is None else included + cap,
            )
            for kind, (included, price, cap) in sorted(spec["items"].items())
        ],
        actor=ACTOR,
    )
    plan_version_publish(version=version, actor=ACTOR)
    for index, (kind, extra, price) in enumerate(spec["addons"]):
        addon_create(
            code=f"generated-addon-{index}",
            name="Generated add-on",
            resource_kind=kind,
            qty=extra,
            price_cents=price,
            currency="AUD",
        )
    return plan.code


def subscribe(plan_code: str, addon_codes: list[str], spec) -> Subscription:
    deployment = make_deployment(tenant_id=TENANT, llm_mode="passthrough")
    subscription_create(
        deployment=deployment,
        plan_code=plan_code,
        addon_codes=addon_codes,
        starts_on=spec["start"],
        actor=ACTOR,
    )
    for kind, amount in spec["usage"].items():
        add_usage(deployment, kind, amount, day=dt.date(2026, 4, 15))
    if spec["llm"]:
        llm_charges(deployment, *map(str, spec["llm"]), day=dt.date(2026, 4, 15))
    if spec["cancel"] is not None:
        cancel_on(deployment, spec["cancel"])
    return Subscription.objects.get(deployment=deployment)


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_key(line) -> tuple:
    return (
        line.kind,
        line.resource_kind,
        Decimal(line.qty),
        line.unit_price_cents,
        line.amount_cents,
    )


def assert_invoice_adds_up(invoice: TenantInvoice, rate: Decimal) -> None:
    lines = list(invoice.lines.order_by("position"))
    tax_lines = [line for line in lines if line.kind == "tax"]
    assert len(tax_lines) == 1 and lines[-1] is tax_lines[0]
    subtotal = sum(line.amount_cents for line in lines if line.kind != "tax")
    assert invoice.subtotal_cents == subtotal
    assert invoice.tax_cents == tax_lines[0].amount_cents == half_up(Decimal(subtotal) * rate)
    assert invoice.total_cents == invoice.subtotal_cents + invoice.tax_cents
    assert invoice.total_cents == sum(line.amount_cents for line in lines)
    for line in lines:
        assert isinstance(line.amount_cents, int) and line.amount_cents >= 0
        if line.kind in ("overage", "usage", "llm_usage", "tax"):
            assert line.amount_cents == half_up(line.qty * line.unit_price_cents), line.description


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["0.10", "0.125", "0"])
def test_invoices_add_up_and_agree_with_the_quote_for_the_same_usage(settings, rate):
    settings.INVOICE_TAX_RATE = rate
    catalog_seed()  # the list prices of the kinds no plan covers

    @given(catalog=catalogs(), subs=st.lists(subscriptions(), min_size=1, max_size=3))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def month(catalog, subs):
        with rolled_back():  # the next example starts from the seeded catalog
            plan_code = build_catalog(catalog)
            addon_codes = [f"generated-addon-{n}" for n in range(len(catalog["addons"]))]
            bound = [subscribe(plan_code, addon_codes, spec) for spec in subs]

            report = roll_up_period(APRIL, tenant_ids=[TENANT])

            assert [r.outcome for r in report.results] == ["invoiced"], report.results
            invoice = TenantInvoice.objects.get(tenant_id=TENANT, period_start=APRIL)
            assert_invoice_adds_up(invoice, Decimal(rate))
            for subscription, spec in zip(bound, subs, strict=True):
                assert_quote_agrees(invoice, subscription, spec, plan_code, addon_codes)

    month()


def assert_quote_agrees(invoice, subscription, spec, plan_code, addon_codes) -> None:
    billed = Counter(
        line_key(line)
        for line in invoice.lines.all()
        if line.deployment_id == subscription.deployment_id and line.kind != "llm_usage"
    )
    usage = usage_for_period(subscription.deployment, APRIL, APRIL_END)
    plan, addons = plan_terms(subscription.plan_version), addon_terms(subscription.addons.all())
    starts_on = spec["start"] if spec["start"] > APRIL else None
    engine = quote(
        plan,
        addons,
        usage,
        resource_prices=resource_price_book(
            currencies=["AUD"], start=APRIL, end=APRIL_END
        ).terms_on(APRIL, "AUD"),
        starts_on=starts_on,
        ends_on=spec["cancel"] if spec["cancel"] and spec["cancel"] < APRIL_END else None,
        period_start=APRIL,
    )
    assert billed == Counter(
        line_key(line) for line in (*engine.first_invoice.lines, *engine.overage.lines)
    )
    if spec["cancel"] is None:
        # What the tenant's price preview showed for this usage is what the month cost.
        preview = quote_preview(
            plan_code=plan_code,
            addon_codes=addon_codes,
            projected_usage=usage,
            starts_on=starts_on or APRIL,
            today=APRIL,
        )
        shown = preview.first_invoice.total_cents + preview.overage.total_cents
        assert sum(line[4] for line in billed.elements()) == shown


# -- no float near money ---------------------------------------------------------------------

# Every top-level package of the product (found, not listed: a new or moved package is scanned).
PRODUCT_PACKAGES = tuple(
    sorted(
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "bench"}
    )
)
# The modules the money flows through; each must exist and be scanned.
MONEY_MODULES = (
    "arcadia_cloud/money.py",
    "arcadia_cloud/parsing.py",
    "arcadia_cloud/validation.py",
    "pricing/engine.py",
    "pricing/invoice.py",
    "pricing/late.py",
    "pricing/tenant.py",
    "invoicing/pricing_inputs.py",
    "invoicing/invoices/rollup/writing.py",
    "invoicing/usage/metering.py",
    "invoicing/usage/llm_usage.py",
    "invoicing/quotes/services.py",
    "invoicing/usage/selectors.py",
    "invoicing/invoices/exports.py",
    "invoicing/models.py",
    "billing/csv_parser.py",
    "billing/services/finance.py",
    "billing/services/ingest.py",
    "billing/models.py",
    "catalog/models.py",
    "catalog/validation.py",
    "deployments/models.py",
    "analytics/selectors.py",
    "analytics/services.py",
    "analytics/fx.py",
    "pricing/fx.py",
    "analytics/models.py",
)
# Files allowed floats, and why. Everything else in the product is scanned.
FLOAT_ALLOWED = {
    "analytics/charts.py": "geometry of the server-drawn bar charts (pixels), never amounts",
    "integrations/digitalocean/client.py": "seconds: timeouts, backoff and Retry-After waits",
    "integrations/digitalocean/ratelimit.py": "seconds: rate-limit windows and waits",
    "integrations/digitalocean/sandbox/emulator.py": (
        "the offline DigitalOcean (a stand-in provider): its serving loop's poll interval"
    ),
    "integrations/digitalocean/sandbox/pricelist.py": (
        "the offline DigitalOcean's price list: /v2/sizes prices as DO's own JSON writes them "
        "(floats); the sync reads them as Decimal"
    ),
    "integrations/digitalocean/sandbox/generate.py": (
        "the offline DigitalOcean's generated account: sizes and list prices as DO's own JSON "
        "writes them (floats); its invoice amounts are Decimal"
    ),
}


def float_uses(path: Path) -> list[str]:
    """Each float(...) call, float literal and FloatField in a module, in line order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "float":
                found.append((node.lineno, "float(...)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append((node.lineno, f"float literal {node.value!r}"))
        elif (isinstance(node, ast.Name) and node.id == "FloatField") or (
            isinstance(node, ast.Attribute) and node.attr == "FloatField"
        ):
            found.append((node.lineno, "FloatField"))
    return [f"{path}:{line}: {what}" for line, what in sorted(found)]


def product_modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_no_float_in_money_code():
    scanned = {str(path.relative_to(ROOT)) for path in product_modules()}
    assert set(MONEY_MODULES) <= scanned, set(MONEY_MODULES) - scanned
    found = [
        use
        for path in product_modules()
        if str(path.relative_to(ROOT)) not in FLOAT_ALLOWED
        for use in float_uses(path)
    ]
    assert found == [], "floats near money:\n" + "\n".join(found)


def test_no_float_column_in_any_migration():
    migrations = [p for pkg in PRODUCT_PACKAGES for p in (ROOT / pkg).rglob("migrations/*.py")]
    assert migrations
    columns = [use for path in migrations for use in float_uses(path) if "FloatField" in use]
    assert columns == []


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from django.db import models\n"
        "x = float('1.5')\n"
        "y = 0.1\n"
        "class M(models.Model):\n"
        "    amount = models.FloatField()\n"
    )
    assert [use.split(": ", 1)[1] for use in float_uses(sample)] == [
        "float(...)",
        "float literal 0.1",
        "FloatField",
    ]
