"""Builders for the dunning tests: an issued invoice that bills one deployment, and the days of
its dunning walk counted from its due date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from deployments.models import Deployment
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.models import TenantInvoice, TenantInvoiceLine
from invoicing.summaries import revenue_summary_refresh
from tests.conftest import TENANT_A
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import MARCH, make_invoice

ACTOR = "test:dunning"


def issued_invoice(
    tenant_id: str = TENANT_A,
    *,
    deployment: Deployment | None = None,
    period_start: dt.date = MARCH,
) -> tuple[TenantInvoice, Deployment]:
    """An invoice issued through the real service, with a line billing `deployment`."""
    deployment = deployment or make_deployment(tenant_id=tenant_id)
    invoice = make_invoice(tenant_id, period_start=period_start)
    TenantInvoiceLine.objects.create(
        invoice=invoice,
        position=3,
        kind="plan_base",
        deployment=deployment,
        description="Studio plan",
        qty=Decimal("1"),
        unit="month",
        unit_price_cents=0,
        amount_cents=0,
    )
    revenue_summary_refresh(period=period_start, tenant_ids=[tenant_id])
    return invoice_issue(invoice=invoice, actor=ACTOR), deployment


def day(invoice: TenantInvoice, offset: int) -> dt.date:
    return invoice.due_on + dt.timedelta(days=offset)
