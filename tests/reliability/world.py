"""A small, realistic account owned by tenant A (and a little of tenant B), built through the
real services, for the isolation matrix and the schema fuzzer.

Every piece of tenant A's data carries a distinctive marker (its tenant id, deployment slug,
resource and project names, invoice number, LLM request id), so a test can search any response
body for "anything of A's" without knowing the response's shape.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from billing.models import CloudBalanceSnapshot, CloudInvoice
from catalog.models import PlanVersion
from catalog.seed import catalog_seed
from catalog.services import PlanItemInput, plan_version_create
from deployments.models import Deployment
from deployments.services import (
    deployment_attach_resources,
    deployment_create,
    subscription_create,
)
from drift.models import CloudDrift
from drift.services import drift_detect_all, provisioned_record
from inventory.models import CloudProject, CloudResource
from invoicing.credit_notes.services import credit_note_issue
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import CreditNote, InvoiceStatus, TenantInvoice
from invoicing.usage.llm_usage import LLMUsageEventInput, llm_usage_events_record
from tests.billing.factories import make_invoice as make_cost_invoice
from tests.billing.factories import make_line
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import at, make_invoice
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create

ACTOR = "test:reliability"
APRIL = dt.date(2026, 4, 1)
MARCH = dt.date(2026, 3, 1)
LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

A_PROJECT = "proj-a-orchid"
A_SLUG = "a-orchid-shop"
A_DROPLET = "a-orchid-web-1"
A_VOLUME = "a-orchid-vol-1"
A_LLM_REQUEST = "a-orchid-req-1"
A_WEBHOOK = "https://hooks.a-orchid.example/arcadia"
B_SLUG = "b-own-app"
B_DROPLET = "b-own-web-1"

_fresh = itertools.count(1)
_months = itertools.count(0)  # months long before any real invoice


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_fresh)}"


@dataclass
class World:
    deployment: Deployment
    droplet: CloudResource
    volume: CloudResource
    invoice: TenantInvoice  # A's issued April invoice
    draft_invoice: TenantInvoice  # A's draft March invoice
    cost_invoice: CloudInvoice  # DigitalOcean's April invoice, a line matched to A's droplet
    drift: CloudDrift  # open, on A's droplet
    draft_version: PlanVersion  # a draft of `studio`
    active_version: PlanVersion  # `studio`'s active version
    b_deployment: Deployment
    b_invoice: TenantInvoice
    credit_note: CreditNote | None = None  # on A's issued April invoice
    markers: tuple[str, ...] = field(default=())
    webhook: WebhookEndpoint | None = None  # A's endpoint

    # -- fresh objects for writes that succeed (so each role acts on its own target) --------

    def fresh_deployment(self, tenant_id: str = TENANT_A, **kwargs) -> Deployment:
        return deployment_create(
            tenant_id=tenant_id,
            slug=fresh("a-orchid-fresh"),
            display_name="Fresh",
            actor=ACTOR,
            **kwargs,
        )

    def fresh_subscribed_deployment(self) -> Deployment:
        deployment = self.fresh_deployment()
        subscription_create(deployment=deployment, plan_code="starter", actor=ACTOR)
        return deployment

    def fresh_resource(self) -> CloudResource:
        return resource(fresh("a-orchid-spare"), tenant_id=TENANT_A)

    def fresh_draft_invoice(self, tenant_id: str = TENANT_A) -> TenantInvoice:
        """A draft for a month of its own (invoices are unique per tenant and month)."""
        n = next(_months)
        return make_invoice(tenant_id, period_start=dt.date(1900 + n // 12, n % 12 + 1, 1))

    def fresh_webhook(self) -> WebhookEndpoint:
        return webhook_endpoint_create(
            tenant_id=TENANT_A, url=A_WEBHOOK, events=["invoice.paid"], actor=ACTOR
        )

    def fresh_issued_invoice(self) -> TenantInvoice:
        return invoice_issue(invoice=self.fresh_draft_invoice(), actor=ACTOR)


def resource(name: str, *, kind: str = "droplet", tenant_id: str | None, **kwargs):
    return CloudResource.objects.create(
        kind=kind,
        provider_id=kwargs.pop("provider_id", fresh("pid")),
        name=name,
        region="syd1",
        size_slug=kwargs.pop("size_slug", "s-1vcpu-1gb"),
        status="active",
        attrs=kwargs.pop("attrs", {}),
        tenant_id=tenant_id,
        first_seen_at=LONG_AGO,
        last_seen_at=timezone.now(),
        **kwargs,
    )


def llm_event(deployment: Deployment, request_id: str, charge: str = "0.01234567"):
    return LLMUsageEventInput(
        ref="",
        gateway_request_id=request_id,
        deployment_id=deployment.pk,
        tenant_id=deployment.tenant_id,
        model="claude-sonnet",
        input_tokens=1200,
        output_tokens=300,
        charge=Decimal(charge),
        currency="AUD",
        occurred_at=at(APRIL.replace(day=10), 12),
    )


def build_world() -> World:
    catalog_seed()
    active_version = PlanVersion.objects.get(plan__code="studio", status="active")
    draft_version = plan_version_create(
        plan=active_version.plan,
        base_price_cents=5500,
        currency="AUD",
        items=[
            PlanItemInput(
                resource_kind="droplet_hours", included_qty=Decimal(1488), overage_price_cents=1
            )
        ],
        actor=ACTOR,
    )

    project = CloudProject.objects.create(
        provider_id=fresh("proj"), name=A_PROJECT, tenant_id=TENANT_A
    )
    deployment = deployment_create(
        tenant_id=TENANT_A, slug=A_SLUG, display_name="A's orchid shop", actor=ACTOR
    )
    subscription_create(
        deployment=deployment,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        starts_on=APRIL,
        actor=ACTOR,
    )
    droplet = resource(A_DROPLET, tenant_id=TENANT_A, project=project)
    volume = resource(
        A_VOLUME, kind="volume", tenant_id=TENANT_A, project=project, attrs={"size_gb": "100"}
    )
    deployment_attach_resources(
        deployment=deployment, resource_ids=[droplet.pk, volume.pk], actor=ACTOR
    )
    llm_usage_events_record(events=[llm_event(deployment, A_LLM_REQUEST)])

    b_deployment = deployment_create(
        tenant_id=TENANT_B, slug=B_SLUG, display_name="B's app", actor=ACTOR
    )
    subscription_create(deployment=b_deployment, plan_code="starter", starts_on=APRIL, actor=ACTOR)
    b_droplet = resource(B_DROPLET, tenant_id=TENANT_B)
    deployment_attach_resources(deployment=b_deployment, resource_ids=[b_droplet.pk], actor=ACTOR)

    report = roll_up_period(APRIL)
    invoices = {r.tenant_id: TenantInvoice.objects.get(pk=r.invoice_id) for r in report.results}
    invoice = invoice_issue(invoice=invoices[TENANT_A], actor=ACTOR)
    b_invoice = invoice_issue(invoice=invoices[TENANT_B], actor=ACTOR)
    first_line = invoice.lines.exclude(kind="tax").order_by("position").first()
    credit_note = credit_note_issue(
        invoice=invoice,
        reason="a-orchid goodwill credit",
        lines=[{"line_id": first_line.pk, "amount_cents": 100}],
        actor=ACTOR,
    )

    march = deployment_create(
        tenant_id=TENANT_A, slug="a-orchid-march", display_name="March", actor=ACTOR
    )
    subscription_create(deployment=march, plan_code="starter", starts_on=MARCH, actor=ACTOR)
    draft = roll_up_period(MARCH, tenant_ids=[TENANT_A]).results[0]
    draft_invoice = TenantInvoice.objects.get(pk=draft.invoice_id, status=InvoiceStatus.DRAFT)

    cost_invoice = make_cost_invoice(
        lines_ingested_at=timezone.now(), line_count=2, matched_count=1, unmatched_count=1
    )
    make_line(
        cost_invoice,
        description=f"{A_DROPLET} (s-1vcpu-1gb)",
        resource_name=A_DROPLET,
        resource=droplet,
        project_name=A_PROJECT,
    )
    make_line(cost_invoice, description=f"{B_DROPLET} (s-1vcpu-1gb)", resource_name=B_DROPLET)
    CloudBalanceSnapshot.objects.create(
        month_to_date_balance=Decimal("12.34"),
        account_balance=Decimal("0"),
        month_to_date_usage=Decimal("12.34"),
    )

    provisioned_record(resource=droplet, spec={"size_slug": "s-8vcpu-16gb"}, actor=ACTOR)
    drift_detect_all()
    drift = CloudDrift.objects.get(resource=droplet, status="open")
    webhook = webhook_endpoint_create(
        tenant_id=TENANT_A, url=A_WEBHOOK, events=["invoice.issued"], actor=ACTOR
    )

    return World(
        deployment=deployment,
        droplet=droplet,
        volume=volume,
        invoice=invoice,
        draft_invoice=draft_invoice,
        cost_invoice=cost_invoice,
        drift=drift,
        draft_version=draft_version,
        active_version=active_version,
        b_deployment=b_deployment,
        b_invoice=b_invoice,
        credit_note=credit_note,
        markers=(
            TENANT_A,
            A_SLUG,
            A_DROPLET,
            A_VOLUME,
            A_PROJECT,
            A_LLM_REQUEST,
            invoice.number,
            A_WEBHOOK,
            credit_note.number,
        ),
        webhook=webhook,
    )
