"""Builders for analytics tests: invoices with lines, DigitalOcean cost lines, rates, and the
SPEC §17 example 4 month built through the real pipeline (seed, subscribe, meter, roll up)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from analytics.models import FxRate
from analytics.services import fx_rate_save
from arcadia_cloud.money import round_cents
from arcadia_cloud.periods import iter_days, month_end
from billing.models import CloudBalanceSnapshot, CloudCostLine, CloudInvoice
from billing.summaries import cost_summary_refresh
from catalog.seed import catalog_seed
from deployments.models import Deployment, Subscription
from deployments.services import subscription_create
from inventory.models import CloudResource
from invoicing.invoices.lifecycle import invoice_issue, invoice_void
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import (
    InvoiceLineKind,
    LLMBillingMode,
    LLMUsageEvent,
    TenantInvoice,
    TenantInvoiceLine,
)
from invoicing.summaries import revenue_summary_refresh
from invoicing.usage.metering import meter_day
from tests.billing.factories import make_invoice as make_cost_invoice
from tests.billing.factories import make_line
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource

ACTOR = "test:analytics"
APRIL = dt.date(2026, 4, 1)
MARCH = dt.date(2026, 3, 1)
MAY = dt.date(2026, 5, 1)
LONG_BEFORE_APRIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
TAX_RATE = Decimal("0.10")

_numbers = itertools.count(1)


@dataclass(frozen=True)
class LineSpec:
    kind: str
    amount_cents: int
    deployment: Deployment | None = None
    resource_kind: str | None = None


def line(
    kind: str,
    amount_cents: int,
    deployment: Deployment | None = None,
    resource_kind: str | None = None,
) -> LineSpec:
    return LineSpec(kind, amount_cents, deployment, resource_kind)


def make_tenant_invoice(
    tenant_id: str,
    lines: Sequence[LineSpec],
    *,
    period: dt.date = APRIL,
    currency: str = "AUD",
    status: str = "draft",
) -> TenantInvoice:
    """An invoice with `lines` and a tenant-level 10% tax line, moved to `status` through the
    invoicing services (drafts are what the rollup writes; issue and void freeze them)."""
    subtotal = sum(spec.amount_cents for spec in lines)
    tax = round_cents(subtotal * TAX_RATE)
    invoice = TenantInvoice.objects.create(
        tenant_id=tenant_id,
        period_start=period,
        period_end=month_end(period),
        currency=currency,
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=subtotal + tax,
        generated_at=dt.datetime.combine(month_end(period), dt.time(23), tzinfo=dt.UTC),
    )
    rows = [
        TenantInvoiceLine(
            invoice=invoice,
            position=position,
            kind=spec.kind,
            deployment=spec.deployment,
            resource_kind=spec.resource_kind,
            description=f"{spec.kind} line",
            qty=Decimal(1),
            unit="month",
            unit_price_cents=spec.amount_cents,
            amount_cents=spec.amount_cents,
        )
        for position, spec in enumerate(lines, start=1)
    ]
    rows.append(
        TenantInvoiceLine(
            invoice=invoice,
            position=len(rows) + 1,
            kind=InvoiceLineKind.TAX,
            description="GST 10%",
            qty=TAX_RATE,
            unit="rate",
            unit_price_cents=subtotal,
            amount_cents=tax,
        )
    )
    TenantInvoiceLine.objects.bulk_create(rows)
    # Written straight into the table, as the rollup's writing step would, so its summary too.
    revenue_summary_refresh(period=period, tenant_ids=[tenant_id])
    if status in ("issued", "void"):
        invoice = invoice_issue(invoice=invoice, actor=ACTOR)
    if status == "void":
        invoice = invoice_void(invoice=invoice, actor=ACTOR, reason="billed in error")
    return invoice


def cost_invoice(period: dt.date = APRIL) -> CloudInvoice:
    return make_cost_invoice(period=period)


def cost_line(
    invoice: CloudInvoice,
    usd: str,
    *,
    resource: CloudResource | None = None,
    kind: str = "droplet",
    **overrides: Any,
) -> CloudCostLine:
    """A cost line of `usd` dollars, matched to `resource` when given (and the invoice's
    margin summary rewritten, as the ingest does)."""
    written = make_line(invoice, amount=Decimal(usd), kind=kind, resource=resource, **overrides)
    cost_summary_refresh(invoice_ids=[invoice.pk])
    return written


def tax_cost_line(invoice: CloudInvoice, usd: str) -> CloudCostLine:
    written = make_line(
        invoice,
        product="Taxes",
        description="GST",
        amount=Decimal(usd),
        kind="tax",
        is_tax=True,
        match_code="tax",
        match_reason="tax line",
    )
    cost_summary_refresh(invoice_ids=[invoice.pk])
    return written


def make_rate(
    period: dt.date, rate: str, *, from_currency: str = "USD", to_currency: str = "AUD"
) -> FxRate:
    return fx_rate_save(
        fx_rate=FxRate(
            from_currency=from_currency, to_currency=to_currency, period=period, rate=Decimal(rate)
        ),
        actor=ACTOR,
    )


def resource_for(
    *, deployment: Deployment | None = None, tenant_id: str | None = None, kind: str = "droplet"
) -> CloudResource:
    return make_resource(
        kind=kind,
        name=f"{kind}-{next(_numbers)}",
        tenant_id=tenant_id,
        deployment=deployment,
        status="active",
        first_seen_at=LONG_BEFORE_APRIL,
        last_seen_at=LONG_BEFORE_APRIL,
    )


@dataclass(frozen=True)
class Subscribed:
    deployment: Deployment
    subscription: Subscription
    droplets: list[CloudResource]


def subscribe(
    tenant_id: str,
    *,
    plan_code: str = "studio",
    addon_codes: Sequence[str] = (),
    starts_on: dt.date = APRIL,
    droplets: int = 5,
) -> Subscribed:
    """A deployment of `tenant_id` on a seeded plan from `starts_on` (through the deployment
    services), with `droplets` active droplets attached since they were first seen: metering
    bills the deployment a resource belonged to at each moment of its history (issue 17), so
    a droplet attached today would bill nothing in April."""
    catalog_seed()
    deployment = make_deployment(tenant_id=tenant_id)
    subscription = subscription_create(
        deployment=deployment,
        plan_code=plan_code,
        addon_codes=list(addon_codes),
        starts_on=starts_on,
        actor=ACTOR,
    )
    resources = [resource_for(deployment=deployment, tenant_id=tenant_id) for _ in range(droplets)]
    return Subscribed(deployment, subscription, resources)


def build_example_4(tenant_id: str) -> Subscribed:
    """SPEC §17 example 4 through the real path: the seeded studio plan without add-ons from
    1 April 2026, 5 droplets attached and active all April (meter and roll up to finish)."""
    return subscribe(tenant_id)


def meter_month(period: dt.date = APRIL, *, through: dt.date | None = None) -> None:
    for day in iter_days(period, through or month_end(period)):
        meter_day(day)


def roll_up(period: dt.date = APRIL):
    report = roll_up_period(period, actor=ACTOR)
    assert not report.failed, [result.reason for result in report.failed]
    return report


def llm_event(deployment: Deployment, day: dt.date, charge: str, currency: str = "AUD"):
    """A passthrough LLM event the gateway priced at `charge`."""
    number = next(_numbers)
    return LLMUsageEvent.objects.create(
        gateway_request_id=f"analytics-req-{number}",
        deployment=deployment,
        tenant_id=deployment.tenant_id,
        model="gpt-5",
        input_tokens=100,
        output_tokens=50,
        charge=Decimal(charge),
        currency=currency,
        occurred_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
        billed_as=LLMBillingMode.PASSTHROUGH,
        payload_hash=f"{number:064d}",
    )


def balance_snapshot(fetched_at: dt.datetime, month_to_date_usage: str) -> CloudBalanceSnapshot:
    usage = Decimal(month_to_date_usage)
    return CloudBalanceSnapshot.objects.create(
        month_to_date_balance=usage,
        account_balance=Decimal(0),
        month_to_date_usage=usage,
        generated_at=fetched_at,
        fetched_at=fetched_at,
    )
