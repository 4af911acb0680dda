"""Builders for the invoicing tests (usage, quotes, invoices): subscribers made through the real
services, usage and LLM charges, invoices written directly. Deployments and cloud resources come
from their apps' factories."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from arcadia_cloud.periods import iter_days
from deployments.models import Deployment, Subscription
from deployments.services import subscription_create
from invoicing.models import (
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceLine,
    UsageRecord,
    UsageSource,
)
from invoicing.summaries import revenue_summary_refresh
from invoicing.usage.llm_usage import LLMUsageEventInput, llm_usage_events_record
from invoicing.usage.metering import meter_day
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource

ACTOR = "test:invoicing"
APRIL = dt.date(2026, 4, 1)
APRIL_END = dt.date(2026, 4, 30)
MARCH = dt.date(2026, 3, 1)

_ids = itertools.count(1)


def at(day: dt.date, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def seed_catalog() -> None:
    call_command("seed_catalog", stdout=StringIO())


def subscriber(
    tenant_id: str,
    *,
    plan: str = "studio",
    addons: tuple[str, ...] = ("storage_50gb",),
    starts_on: dt.date = APRIL,
    droplets: int = 0,
    llm_mode: str = "passthrough",
) -> Deployment:
    """A deployment of `tenant_id` subscribed to `plan` from `starts_on`, with `droplets` live
    droplets attached (running since January, so metering counts every day)."""
    deployment = make_deployment(tenant_id=tenant_id, llm_mode=llm_mode)
    subscription_create(
        deployment=deployment,
        plan_code=plan,
        addon_codes=list(addons),
        starts_on=starts_on,
        actor=ACTOR,
    )
    # Attached since January too: metering bills the deployment a resource belonged to at each
    # moment of its history (issue 17), so a droplet attached today bills nothing in April.
    for _ in range(droplets):
        make_resource("droplet", deployment=deployment, status="active")
    return deployment


def meter(start: dt.date = APRIL, end: dt.date = APRIL_END) -> None:
    for day in iter_days(start, end):
        meter_day(day)


def add_usage(deployment: Deployment, kind: str, qty: str | int, *, day: dt.date = APRIL) -> None:
    """A manual usage row (an operator's correction), for quantities metering cannot make."""
    UsageRecord.objects.create(
        deployment=deployment,
        resource_kind=kind,
        period_start=at(day),
        qty=Decimal(qty),
        qty_numerator=Decimal(qty),
        qty_denominator=1,
        source=UsageSource.MANUAL,
    )


def llm_charges(deployment: Deployment, *charges: str, day: dt.date = APRIL) -> None:
    """Gateway events with these exact charges (currency units), in AUD."""
    events = [
        LLMUsageEventInput(
            ref="",
            gateway_request_id=f"req-{next(_ids)}",
            deployment_id=deployment.pk,
            tenant_id=deployment.tenant_id,
            model="claude",
            input_tokens=10,
            output_tokens=5,
            charge=Decimal(charge),
            currency="AUD",
            occurred_at=at(day, 12),
        )
        for charge in charges
    ]
    llm_usage_events_record(events=events)


def cancel_on(deployment: Deployment, day: dt.date) -> Subscription:
    """Arrange a cancellation on a past day (the service cancels today; tests need April)."""
    Subscription.objects.filter(deployment=deployment).update(status="cancelled", cancelled_on=day)
    return Subscription.objects.get(deployment=deployment)


def make_invoice(
    tenant_id: str,
    *,
    period_start: dt.date = APRIL,
    subtotal_cents: int = 1000,
    tax_cents: int = 100,
    status: str = InvoiceStatus.DRAFT,
    number: str | None = None,
    currency: str = "AUD",
) -> TenantInvoice:
    """A draft with one usage line and one tax line, written directly (for status and export
    tests that do not need the rollup's pricing)."""
    invoice = TenantInvoice.objects.create(
        tenant_id=tenant_id,
        period_start=period_start,
        period_end=period_start.replace(day=28),
        currency=currency,
        subtotal_cents=subtotal_cents,
        tax_cents=tax_cents,
        total_cents=subtotal_cents + tax_cents,
        generated_at=timezone.now(),
    )
    TenantInvoiceLine.objects.bulk_create(
        [
            TenantInvoiceLine(
                invoice=invoice,
                position=1,
                kind="usage",
                resource_kind="volume_gb_month",
                description="Volume storage (not in plan, at the list price)",
                qty=Decimal("66.666667"),
                unit="gb_month",
                unit_price_cents=15,
                amount_cents=subtotal_cents,
            ),
            TenantInvoiceLine(
                invoice=invoice,
                position=2,
                kind="tax",
                description="GST 10%",
                qty=Decimal("0.1"),
                unit="rate",
                unit_price_cents=subtotal_cents,
                amount_cents=tax_cents,
            ),
        ]
    )
    if status != InvoiceStatus.DRAFT:
        TenantInvoice.objects.filter(pk=invoice.pk).update(
            status=status,
            number=number or f"TEST-{next(_ids):06d}",
            issued_at=timezone.now(),
            paid_at=timezone.now() if status == InvoiceStatus.PAID else None,
        )
        invoice.refresh_from_db()
    # Written straight into the tables, as the rollup's writing step would: so its summary too.
    revenue_summary_refresh(period=period_start, tenant_ids=[tenant_id])
    return invoice
