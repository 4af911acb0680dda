"""The month-end demo: the whole product run against the bundled DigitalOcean emulator.

It replays one month the way production lives it — each day the 15-minute inventory sync,
operators attaching new resources to their tenant's deployment, the 01:10 metering of the day
before and the LLM gateway reporting usage — then, after the month: the provider invoice ingest,
the rollup, margin and drift. It calls the same services the Celery tasks call. Every step is
idempotent: a re-run reuses what is there and says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.core.management import call_command

from analytics.advisor import pricing_advice
from analytics.models import FxRate
from analytics.rerating import version_rerate
from analytics.selectors import margin_summary
from analytics.services import fx_rate_save
from arcadia_cloud.clock import utc_today
from arcadia_cloud.money import cents_to_units
from arcadia_cloud.periods import iter_days, month_end, next_month
from billing.models import CloudInvoice
from billing.services import billing_history_sync, invoice_ingest
from catalog.models import PlanVersion, PlanVersionStatus
from catalog.provider_prices import read_price_list
from catalog.seed import SEED_PRICES_FROM
from catalog.selectors import active_version, resource_price_book
from catalog.services import PlanItemInput, plan_version_create, provider_prices_sync
from customers.services import billing_profile_save
from demo.webhook_receiver import run_receiver
from deployments.models import Deployment, Subscription
from deployments.services import (
    deployment_attach_resources,
    deployment_create,
    subscription_change_plan,
    subscription_create,
    trials_end_due,
)
from drift.selectors import drift_list
from drift.services import drift_detect_all, provisioned_record
from dunning.models import DunningStep, InfrastructureAction
from dunning.policy import default_policy, dunning_policy_save
from dunning.selectors import aged_receivables
from dunning.services import dunning_run
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, load_fixture, run_emulator
from integrations.spaces import SpacesClient
from integrations.spaces_sandbox import (
    SANDBOX_KEY_ID,
    SANDBOX_SECRET,
    create_bucket,
    run_s3_server,
)
from inventory.measurements import BANDWIDTH_METRIC, measure_bandwidth, measure_spaces
from inventory.models import (
    CloudProject,
    CloudResource,
    CloudResourceHistory,
    MeasurementStatus,
    ResourceKind,
    ResourceMeasurement,
)
from inventory.services import project_classify
from inventory.sync import sync_all
from invoicing.credit_notes.selectors import credit_available
from invoicing.credit_notes.services import credit_note_issue
from invoicing.documents.render import invoice_context, note_context, render_pdf
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid
from invoicing.invoices.rollup import roll_up_period
from invoicing.invoices.selectors import invoices_list, invoices_with_lines
from invoicing.models import CreditNote, InvoiceStatus, TenantInvoice, UsageRecord, UsageSource
from invoicing.usage.llm_usage import LLMUsageEventInput, llm_usage_events_record
from invoicing.usage.metering import meter_day
from invoicing.usage.selectors import usage_for_deployments
from pricing import kinds as billing_kinds
from webhooks.events import EVENT_TYPES
from webhooks.services import (
    webhook_deliveries_due,
    webhook_delivery_attempt,
    webhook_endpoint_create,
)

ACTOR = "demo"
DEMO_USD_AUD = Decimal("1.5500")
STATE_FILE = "demo_state.json"


@dataclass(frozen=True)
class DemoTenant:
    """A sandbox tenant: its DigitalOcean project, its deployment and what it bought."""

    tenant_id: str
    project: str
    slug: str
    display_name: str
    plan_code: str
    addons: tuple[str, ...] = ()
    start_day: int = 1
    llm_mode: str = "none"
    trial_days: int = 0
    upgrade: tuple[int, str] | None = None  # (day of the month, plan): an immediate change


TENANTS = (
    DemoTenant(
        "acme",
        "Acme Corp",
        "acme-shop",
        "Acme web shop",
        "studio",
        ("storage_50gb",),
        upgrade=(16, "pro"),
    ),
    DemoTenant(
        "globex", "Globex", "globex-api", "Globex public API", "pro", llm_mode="passthrough"
    ),
    DemoTenant(
        "initech",
        "Initech",
        "initech-www",
        "Initech website",
        "starter",
        start_day=15,
        trial_days=7,
    ),
)
LLM_EVENTS_PER_DAY = 12
# The tenant that pays late in the "getting paid" story; the others pay on time.
LATE_PAYER = "acme"
# The demo tenants' billing profiles (ABNs with valid checksums, not real businesses).
BILLING_ABNS = {"acme": "33102417032", "globex": "33102417064", "initech": "33102417096"}
CREDITED_TENANT = "acme"
# The demo ends by drafting a new version of this plan priced from the advisor's suggestions
# and re-rating the demo month under it (issue 18 item 6).
DRAFT_PLAN = "pro"
DRAFT_TARGET_MARGIN = Decimal(30)
DRAFT_ATTEMPTS = 6
CREDIT_CENTS = 1_000  # ex-GST, credited on the first line of acme's invoice
DOCUMENTS_DIR = "documents"
OUTBOX_DIR = "outbox"


def _at(day: dt.date, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, minute), tzinfo=dt.UTC)


class DemoPeriodMismatch(Exception):
    pass


@dataclass
class DemoState:
    """What earlier runs completed, so a re-run reuses instead of redoing."""

    period: str
    done: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, period: dt.date) -> DemoState:
        path = settings.VAR_DIR / STATE_FILE
        if not path.exists():
            return cls(period=period.isoformat())
        data = json.loads(path.read_text())
        if data.get("period") != period.isoformat():
            raise DemoPeriodMismatch(
                f"this database already holds the demo for {data.get('period')}; run that "
                f"period again, or delete {settings.VAR_DIR} to start over with {period:%Y-%m}"
            )
        return cls(period=data["period"], done=data.get("done", {}))

    def save(self) -> None:
        path = settings.VAR_DIR / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"period": self.period, "done": self.done}, indent=2))


class MonthDemo:
    def __init__(self, period: dt.date, stdout) -> None:
        self.period = period
        self.last_day = month_end(period)
        self.stdout = stdout
        self.state = DemoState.load(period)
        self.emulator: DigitalOceanEmulator | None = None
        self.client: DigitalOceanClient | None = None

    # -- output ------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.stdout.write(text)

    def progress(self, text: str) -> None:
        """On a terminal, a line the next one overwrites (long steps show they are moving)."""
        if self.stdout.isatty():
            self.stdout.write(f"{text:<60}\r", ending="")
            self.stdout.flush()

    def step(self, key: str, title: str, action: Callable[[], str]) -> None:
        if key in self.state.done:
            self.write(f"• {title}: reused ({self.state.done[key]})")
            return
        self.write(f"• {title} …")
        with _quiet_logs():
            summary = action()
        self.progress("")
        self.state.done[key] = summary
        self.state.save()
        self.write(f"  {summary}")

    # -- the pipeline --------------------------------------------------------------------------

    def run(self) -> None:
        self.write("• migrating the database, installing schedules, seeding the catalog")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("setup_schedules", verbosity=0, stdout=_Null())
        call_command("seed_catalog", verbosity=0, stdout=_Null())
        emulator = DigitalOceanEmulator(period=self.period, clock=_at(self.period))
        with run_emulator(emulator) as running:
            self.emulator = running
            self.client = DigitalOceanClient(running.base_url, running.token)
            self.step("prices", "syncing DigitalOcean's price list", self.sync_provider_prices)
            self.step(
                "month", f"living through {self.period:%B %Y} day by day", self.live_the_month
            )
            self.step("cogs", "ingesting DigitalOcean's invoice for the month", self.ingest_cogs)
        # Cost-plus prices (issue 18) convert DigitalOcean's USD list at the month's rate: the
        # rate is entered before the rollup prices the month.
        self.step("fx", f"entering the USD→AUD rate for {self.period:%B %Y}", self.enter_fx_rate)
        self.step("rollup", f"rolling up tenant invoices for {self.period:%B %Y}", self.roll_up)
        self.step("drift", "recording desired state and detecting drift", self.detect_drift)
        self.step("profiles", "recording the tenants' billing profiles", self.save_profiles)
        with _email_to_files():
            self.step(
                "paid", "getting paid: issuing, dunning one late payer, payment", self.get_paid
            )
            self.step("credit", f"crediting one line of {CREDITED_TENANT}'s invoice", self.credit)
        self.print_invoices()
        self.print_observed_changes()
        self.print_documents()
        self.print_margin()
        self.print_drift_inbox()
        self.print_next_month()
        self.print_advice()
        self.step(
            "draft",
            f"drafting {DRAFT_PLAN} from the advisor's prices (a {DRAFT_TARGET_MARGIN}% margin)",
            self.draft_from_advice,
        )
        self.print_rerating()

    def live_the_month(self) -> str:
        """Each day at 00:00: sync inventory, measure yesterday at the source (Spaces sizes
        through the S3 API of a real S3 server on loopback, droplet bandwidth from the
        emulator's monitoring API), meter yesterday and record yesterday's LLM usage, onboard
        tenants whose subscription starts today, attach their new resources."""
        days = [*iter_days(self.period, self.last_day), next_month(self.period)]
        with run_s3_server() as s3_url:
            bucket_bytes = self.fill_spaces_buckets(s3_url)
            spaces = SpacesClient(
                access_key_id=SANDBOX_KEY_ID, secret_access_key=SANDBOX_SECRET, endpoint_url=s3_url
            )
            for index, day in enumerate(days, start=1):
                self.sync_at(_at(day))
                if index > 1:
                    # Yesterday is metered before today's onboarding: resources attached today
                    # must not be billed for the day before their subscription started.
                    yesterday = day - dt.timedelta(days=1)
                    measure_spaces(client=spaces, day=yesterday)  # the 00:20 task
                    measure_bandwidth(client=self.client, day=yesterday, retry_days=0)  # 00:30
                    meter_day(yesterday, now=_at(day))
                    self.report_llm_usage(yesterday, now=_at(day))
                trials_end_due(now=_at(day), actor="system")  # the daily task, at 00:05
                if day <= self.last_day:
                    self.onboard_tenants_starting(day)
                    self.change_plans_on(day)
                self.attach_new_resources(now=_at(day))
                self.observe_changes_on(day)
                self.progress(f"  day {index:>2}/{len(days)}")
        live = CloudResource.objects.filter(deleted_at__isnull=True).count()
        gone = CloudResource.objects.filter(deleted_at__isnull=False).count()
        attached = CloudResource.objects.filter(deployment__isnull=False).count()
        measured = ResourceMeasurement.objects.filter(status=MeasurementStatus.COMPLETE)
        return (
            f"{live} live resources, {gone} destroyed during the month, {attached} attached to "
            f"{Deployment.objects.count()} deployments, {self.last_day.day} days metered; "
            f"{len(bucket_bytes)} Spaces buckets ({sum(bucket_bytes.values()):,} bytes) and "
            f"{measured.filter(metric=BANDWIDTH_METRIC).values('resource').distinct().count()} "
            "droplets' bandwidth measured daily"
        )

    @staticmethod
    def fill_spaces_buckets(s3_url: str) -> dict[str, int]:
        """The account's Spaces buckets on the S3 server, with objects of the fixture's sizes."""
        return {
            bucket["name"]: create_bucket(s3_url, bucket["name"], bucket["object_sizes"])
            for bucket in load_fixture().get("spaces_buckets", [])
        }

    def sync_at(self, moment: dt.datetime) -> None:
        """The 00:00 sync; where something went missing, the 00:15 and 00:30 syncs finish its
        three strikes, as the 15-minute schedule would."""
        for minute in (0, 15, 30):
            now = moment + dt.timedelta(minutes=minute)
            self.emulator.set_clock(now)
            results = sync_all(client=self.client, now=now)
            if not any(result.stale.struck for result in results):
                return

    def observe_changes_on(self, day: dt.date) -> None:
        """The 15-minute syncs that see the fixture's mid-day changes (`_changes`: a droplet
        powered off, a volume resized, a droplet moved to another tenant's project) at the
        instant they happen, and the operator moving what changed tenant to that tenant's
        deployment then: the history records each change at its instant."""
        start = _at(day)
        for moment in self.emulator.change_instants():
            if start < moment < start + dt.timedelta(days=1):
                self.sync_at(moment)
                self.attach_new_resources(now=moment)

    def onboard_tenants_starting(self, day: dt.date) -> None:
        for tenant in TENANTS:
            if day.day != tenant.start_day:
                continue
            project = CloudProject.objects.get(name=tenant.project)
            if project.tenant_id != tenant.tenant_id:
                project_classify(
                    project=project,
                    tenant_id=tenant.tenant_id,
                    purpose="tenant",
                    actor=ACTOR,
                    now=_at(day),
                )
            deployment = Deployment.objects.filter(
                tenant_id=tenant.tenant_id, slug=tenant.slug
            ).first()
            if deployment is None:
                deployment = deployment_create(
                    tenant_id=tenant.tenant_id,
                    slug=tenant.slug,
                    display_name=tenant.display_name,
                    actor=ACTOR,
                    llm_mode=tenant.llm_mode,
                )
            if not Subscription.objects.filter(deployment=deployment).exists():
                subscription_create(
                    deployment=deployment,
                    plan_code=tenant.plan_code,
                    addon_codes=tenant.addons,
                    starts_on=day,
                    trial_days=tenant.trial_days,
                    actor=ACTOR,
                )

    @staticmethod
    def change_plans_on(day: dt.date) -> None:
        """A tenant upgrading mid-month: the month splits into two segments, each priced on
        its own days (the change-plan API's service)."""
        for tenant in TENANTS:
            if tenant.upgrade is None or tenant.upgrade[0] != day.day:
                continue
            subscription = Subscription.objects.select_related(
                "deployment", "plan_version__plan"
            ).get(deployment__tenant_id=tenant.tenant_id, deployment__slug=tenant.slug)
            if subscription.plan_version.plan.code != tenant.upgrade[1]:
                subscription_change_plan(
                    subscription=subscription, plan_code=tenant.upgrade[1], on=day, actor=ACTOR
                )

    @staticmethod
    def attach_new_resources(*, now: dt.datetime) -> None:
        """What operators do in the admin: a tenant's new resources join its deployment (at
        `now`, the simulated moment: their billed history moves to it then)."""
        for tenant in TENANTS:
            deployment = Deployment.objects.filter(
                tenant_id=tenant.tenant_id, slug=tenant.slug
            ).first()
            if deployment is None:
                continue
            new = CloudResource.objects.filter(
                tenant_id=tenant.tenant_id, deployment__isnull=True, deleted_at__isnull=True
            ).values_list("pk", flat=True)
            if new:
                deployment_attach_resources(
                    deployment=deployment, resource_ids=list(new), actor=ACTOR, now=now
                )
            # Moved to this tenant's project: it leaves the other tenant's deployment now.
            moved = (
                CloudResource.objects.filter(tenant_id=tenant.tenant_id, deleted_at__isnull=True)
                .exclude(deployment__isnull=True)
                .exclude(deployment__tenant_id=tenant.tenant_id)
                .values_list("pk", flat=True)
            )
            if moved:
                deployment_attach_resources(
                    deployment=deployment,
                    resource_ids=list(moved),
                    actor=ACTOR,
                    reassign=True,
                    now=now,
                )

    @staticmethod
    def report_llm_usage(day: dt.date, *, now: dt.datetime) -> None:
        """The LLM gateway's events for one day (deterministic, so re-runs are duplicates)."""
        for tenant in TENANTS:
            if tenant.llm_mode == "none":
                continue
            deployment = Deployment.objects.filter(
                tenant_id=tenant.tenant_id, slug=tenant.slug
            ).first()
            if deployment is None:
                continue
            rng = random.Random(f"{tenant.slug}-{day.isoformat()}")
            events = [
                LLMUsageEventInput(
                    ref=f"events[{n}]",
                    gateway_request_id=f"demo-{tenant.slug}-{day:%Y%m%d}-{n:03d}",
                    deployment_id=deployment.pk,
                    tenant_id=tenant.tenant_id,
                    model=rng.choice(("gpt-4o-mini", "claude-haiku", "llama-3-70b")),
                    input_tokens=(tokens_in := rng.randint(200, 4000)),
                    output_tokens=(tokens_out := rng.randint(50, 800)),
                    charge=(
                        Decimal(tokens_in) * Decimal("0.0000015")
                        + Decimal(tokens_out) * Decimal("0.000006")
                    ),
                    currency="AUD",
                    occurred_at=_at(day) + dt.timedelta(minutes=rng.randint(0, 1439)),
                )
                for n in range(LLM_EVENTS_PER_DAY)
            ]
            llm_usage_events_record(events=events, now=now)

    def roll_up(self) -> str:
        report = roll_up_period(self.period, actor=ACTOR)
        if report.failed:
            reasons = "; ".join(f"{r.tenant_id}: {r.reason}" for r in report.failed)
            raise RuntimeError(f"the rollup failed for some tenants: {reasons}")
        return report.summary()

    def sync_provider_prices(self) -> str:
        """The daily price-list task (`catalog.sync_provider_prices`), as of the month's 1st."""
        read = read_price_list(self.client)
        return provider_prices_sync(
            listed=read.prices, today=SEED_PRICES_FROM, skipped=read.skipped
        ).summary()

    def enter_fx_rate(self) -> str:
        rate, _ = FxRate.objects.get_or_create(
            from_currency="USD",
            to_currency="AUD",
            period=self.period,
            defaults={"rate": DEMO_USD_AUD, "entered_by": ACTOR},
        )
        fx_rate_save(fx_rate=rate, actor=ACTOR)
        return f"1 USD = {rate.rate} AUD"

    def print_margin(self) -> None:
        summary = margin_summary(self.period)
        self.write("")
        self.write(
            f"Margin for {self.period:%B %Y} (revenue ex-{settings.INVOICE_TAX_LABEL}, COGS ex-tax)"
        )
        for fx in summary["fx"]:
            self.write(f"  {fx['note']}")
        columns = ("tenant", "revenue", "COGS (USD)", "COGS", "margin", "margin %")
        self.write(
            "  " + " ".join(f"{c:<14}" if i == 0 else f"{c:>14}" for i, c in enumerate(columns))
        )
        for row in [*summary["tenants"], {**summary["overall"], "tenant_id": "TOTAL"}]:
            currency = row["currency"]
            cells = (
                _money(row["revenue_cents"], currency),
                _money(row["cogs_usd_cents"], "USD"),
                _maybe_money(row["cogs_cents"], currency),
                _maybe_money(row["margin_cents"], currency),
                _percent(row["margin_percent"]),
            )
            self.write(f"  {row['tenant_id']:<14} " + " ".join(f"{cell:>14}" for cell in cells))
        unattributed = summary["unattributed"]
        self.write(
            f"  (of which unattributed: {_money(unattributed['cogs_usd_cents'], 'USD')} in "
            f"{unattributed['lines']} DigitalOcean lines matched to no tenant)"
        )

    # -- the pricing advisor and a re-rated draft (issue 18 items 4-6) ---------------------------

    def print_advice(self) -> None:
        advice = pricing_advice(self.period, target_margin=DRAFT_TARGET_MARGIN)
        currency = advice["currency"]
        self.write("")
        self.write(
            f"Pricing advisor for {self.period:%B %Y} (target margin "
            f"{advice['target_margin_percent']}%, {currency} cents per unit)"
        )
        self.write(f"  {advice['rounding']}")
        for reason in advice["missing"]:
            self.write(f"  missing: {reason}")
        columns = ("kind / size", "units", "COGS", "COGS/unit", "rev/unit", "break-even", "target")
        self.write("  " + f"{columns[0]:<26}" + " ".join(f"{c:>12}" for c in columns[1:]))
        for row in advice["kinds"]:
            self.write("  " + self._advice_cells(row["kind"], row, currency, revenue=True))
            for size in row["sizes"]:
                self.write("  " + self._advice_cells(f"  {size['size_slug']}", size, currency))
        for row in advice["unbilled_cogs"]:
            self.write(
                f"  DO {row['kind']}: {_money(row['cogs_usd_cents'], 'USD')} ({row['reason']})"
            )
        self.write(
            f"  Losing money: {advice['losing_tenant_count']} tenant(s), "
            f"{advice['losing_deployment_count']} deployment(s)"
        )
        for deployment in advice["losing_deployments"]:
            self.write(
                f"    {deployment['slug']} ({deployment['tenant_id']}): margin "
                f"{_money(deployment['margin_cents'], currency)}"
            )
            for resource in deployment["resources"]:
                self.write(f"      - {resource['reason']}")

    @staticmethod
    def _advice_cells(label: str, row: dict, currency: str, *, revenue: bool = False) -> str:
        def per_unit(value) -> str:
            return "—" if value is None else f"{value}"

        cells = (
            f"{row['units']:.2f}",
            _maybe_money(row["cogs_cents"], currency),
            per_unit(row["cogs_per_unit_cents"]),
            per_unit(row.get("revenue_per_unit_cents")) if revenue else "",
            per_unit(row["break_even_unit_price_cents"]),
            per_unit(row["target_unit_price_cents"]),
        )
        return f"{label[:26]:<26}" + " ".join(f"{cell:>12}" for cell in cells)

    def draft_from_advice(self) -> str:
        """A draft of DRAFT_PLAN whose overage prices are the advisor's suggestions where they
        are above today's, and whose base price is raised until re-rating the demo month under
        it shows a positive margin (what off resources and allowances cost is not per unit)."""
        advice = pricing_advice(self.period, target_margin=DRAFT_TARGET_MARGIN)
        suggested = {
            row["kind"]: row["target_unit_price_cents"]
            for row in advice["kinds"]
            if row["target_unit_price_cents"] is not None
        }
        current = active_version(DRAFT_PLAN)
        items = []
        for item in current.items.order_by("id"):
            price = _per_unit(suggested.get(item.resource_kind, 0), item.resource_kind, item)
            items.append(
                PlanItemInput(
                    item.resource_kind,
                    item.included_qty,
                    max(item.overage_price_cents, price),
                    item.overage_unit,
                    item.hard_cap_qty,
                )
            )
        # A kind the plan leaves to the list price gets an item with nothing included, priced
        # at the advisor's suggestion when that is above the list price.
        covered = {item.resource_kind for item in items}
        list_prices = resource_price_book(
            currencies=[current.currency], start=self.period, end=self.last_day
        ).terms_on(self.period, current.currency)
        for kind, per_base_unit in sorted(suggested.items()):
            listed = list_prices.get(kind)
            price = _per_unit(per_base_unit, kind)
            if kind in covered or not price or (listed and listed.price_cents >= price):
                continue
            items.append(PlanItemInput(kind, Decimal(0), price))
        base = current.base_price_cents
        for _ in range(DRAFT_ATTEMPTS):
            draft = plan_version_create(
                plan=current.plan,
                base_price_cents=base,
                currency=current.currency,
                items=items,
                actor=ACTOR,
            )
            result = version_rerate(version_id=draft.pk, period=self.period)
            [total] = result["totals"] or [None]
            if total is None or total["margin_would_cents"] is None:
                reasons = "; ".join(result["missing"]) or "nothing re-rated"
                return f"{DRAFT_PLAN} v{draft.number} drafted; its margin is unknown: {reasons}"
            if total["margin_would_cents"] > 0:
                return (
                    f"{DRAFT_PLAN} v{draft.number}: base {_money(base, current.currency)} "
                    f"(v{current.number}: {_money(current.base_price_cents, current.currency)}), "
                    f"overage from the advisor's {DRAFT_TARGET_MARGIN}% prices"
                )
            # Short of the target: spread what is missing over the tenants, whole dollars up.
            wanted = Decimal(total["cogs_cents"]) / (1 - DRAFT_TARGET_MARGIN / 100)
            short = wanted - total["would_subtotal_cents"]
            step = -(-int(short) // max(total["tenants"], 1))
            base += max(100, -(-step // 100) * 100)
            draft.delete()  # a trial draft: never published, nothing refers to it
        raise RuntimeError(f"no base price made {DRAFT_PLAN}'s re-rated margin positive")

    def print_rerating(self) -> None:
        draft = (
            PlanVersion.objects.filter(
                plan__code=DRAFT_PLAN, status=PlanVersionStatus.DRAFT, created_by=ACTOR
            )
            .order_by("-number")
            .first()
        )
        if draft is None:
            return
        result = version_rerate(version_id=draft.pk, period=self.period)
        self.write("")
        self.write(
            f"{DRAFT_PLAN} v{draft.number} (draft) re-rated against {self.period:%B %Y}: the "
            f"subscribers of v{result['replaces_version_number']}, nothing written"
        )
        for reason in result["missing"]:
            self.write(f"  missing: {reason}")
        columns = ("tenant", "got", "would get", "COGS", "margin got", "margin would")
        self.write(
            "  " + " ".join(f"{c:<10}" if i == 0 else f"{c:>16}" for i, c in enumerate(columns))
        )
        rows = [
            (
                row["tenant_id"],
                row["currency"],
                row["got"]["total_cents"],
                row["would"]["total_cents"],
                row["cogs_cents"],
                row["margin_got_cents"],
                row["margin_would_cents"],
            )
            for row in result["tenants"]
        ] + [
            (
                "TOTAL",
                total["currency"],
                total["got_total_cents"],
                total["would_total_cents"],
                total["cogs_cents"],
                total["margin_got_cents"],
                total["margin_would_cents"],
            )
            for total in result["totals"]
        ]
        for tenant_id, currency, got, would, cogs, margin_got, margin_would in rows:
            cells = (
                _money(got, currency),
                _money(would, currency),
                _maybe_money(cogs, currency),
                _maybe_money(margin_got, currency),
                _maybe_money(margin_would, currency),
            )
            self.write(f"  {tenant_id:<10} " + " ".join(f"{cell:>16}" for cell in cells))
        for total in result["totals"]:
            self.write(
                f"  margin {_percent(total['margin_got_percent'])} as invoiced, "
                f"{_percent(total['margin_would_percent'])} under v{draft.number} "
                "(totals incl. GST; margins on revenue ex-GST)"
            )
        for failure in result["failed"]:
            self.write(f"  {failure['tenant_id']}: not re-rated: {failure['reason']}")

    def detect_drift(self) -> str:
        """An operator recorded what acme-db-1 should be; someone resized it by hand since."""
        database = CloudResource.objects.get(kind=ResourceKind.DROPLET, name="acme-db-1")
        provisioned_size = "s-4vcpu-8gb" if database.size_slug != "s-4vcpu-8gb" else "s-2vcpu-4gb"
        provisioned_record(
            resource=database,
            spec={"size_slug": provisioned_size, "region": database.region, "status": "active"},
            actor=ACTOR,
        )
        web = CloudResource.objects.get(kind=ResourceKind.DROPLET, name="acme-web-1")
        provisioned_record(
            resource=web, spec={"size_slug": web.size_slug, "region": web.region}, actor=ACTOR
        )
        summary = drift_detect_all()
        return f"{summary.resources} provisioned resources checked, {summary.opened} drift opened"

    def print_invoices(self) -> None:
        self.write("")
        self.write(f"Tenant invoices for {self.period:%B %Y}")
        for invoice in invoices_with_lines(invoices_list(period_start=self.period)):
            self.write(
                f"  {invoice.tenant_id:<10} {invoice.status:<7} "
                f"subtotal {_money(invoice.subtotal_cents, invoice.currency):>14}  "
                f"{settings.INVOICE_TAX_LABEL} {_money(invoice.tax_cents, invoice.currency):>12}  "
                f"total {_money(invoice.total_cents, invoice.currency):>14}"
            )
            for line in invoice.lines.all():
                if line.kind == "tax":
                    continue
                self.write(
                    f"      {line.kind:<9} {line.description[:52]:<52} "
                    f"{_money(line.amount_cents, invoice.currency):>14}"
                )
            self.print_measured_usage(invoice.tenant_id)

    def print_observed_changes(self) -> None:
        """The month's mid-day changes as the history recorded them (issue 17), and what was
        metered of them: the day's usage on each side of the change, per deployment."""
        start, end = _at(self.period), _at(next_month(self.period))
        changes = (
            CloudResourceHistory.objects.filter(valid_from__gt=start, valid_from__lt=end)
            .select_related("resource", "deployment")
            .order_by("valid_from", "resource_id")
        )
        self.write("")
        self.write("Changes observed mid-day (metered as they happened)")
        for interval in changes:
            if interval.valid_from.time() == dt.time(0, 0):
                continue  # the daily syncs and onboarding: whole days
            before = (
                CloudResourceHistory.objects.filter(
                    resource_id=interval.resource_id, valid_to=interval.valid_from
                )
                .select_related("deployment")
                .first()
            )
            if before is None:
                continue
            what = _change_text(before, interval)
            if not what:
                continue
            day = interval.valid_from.date()
            self.write(
                f"  {interval.resource.name:<14} {what} at {interval.valid_from:%H:%M} on "
                f"{day:%-d %b}: {_usage_text(interval.resource_id, day, day)} that day"
            )
            if before.deployment_id != interval.deployment_id:
                self.write(
                    f"  {'':<14} the month: "
                    f"{_usage_text(interval.resource_id, self.period, self.last_day)}"
                )

    def print_measured_usage(self, tenant_id: str) -> None:
        """The month's usage measured at the source (issue 17), billed where beyond the plan."""
        deployments = Deployment.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True)
        totals: dict[str, Decimal] = {}
        for usage in usage_for_deployments(deployments, self.period, self.last_day).values():
            for kind, qty in usage.items():
                totals[kind] = totals.get(kind, Decimal(0)) + qty
        spaces = totals.get("spaces_gb_month", Decimal(0))
        bandwidth = totals.get("bandwidth_gb", Decimal(0))
        self.write(
            f"      measured  Spaces storage {spaces:.6f} GB-month, outbound bandwidth "
            f"{bandwidth:.6f} GB (the month, before allowances)"
        )

    # -- documents: issue, PDFs, an adjustment note, its credit consumed ----------------------

    def save_profiles(self) -> str:
        """Billing profiles for the tenants: what their tax invoices name (issuing, in the
        getting-paid step, freezes them onto each invoice)."""
        for tenant in TENANTS:
            billing_profile_save(
                tenant_id=tenant.tenant_id,
                legal_name=f"{tenant.project} Pty Ltd",
                abn=BILLING_ABNS[tenant.tenant_id],
                address=f"1 {tenant.project} Way, Sydney NSW 2000",
                billing_emails=[f"accounts@{tenant.tenant_id}.example"],
                actor=ACTOR,
            )
        return f"{len(TENANTS)} billing profiles (legal name, ABN, address, billing email)"

    def credit(self) -> str:
        invoice = TenantInvoice.objects.get(tenant_id=CREDITED_TENANT, period_start=self.period)
        line = invoice.lines.exclude(kind__in=["tax", "credit"]).order_by("position").first()
        note = credit_note_issue(
            invoice=invoice,
            reason="Goodwill: the web shop was down for a day",
            lines=[{"line_id": line.pk, "amount_cents": min(CREDIT_CENTS, line.amount_cents)}],
            actor=ACTOR,
        )
        return (
            f"{note.number}: {_money(note.subtotal_cents, note.currency)} + GST "
            f"{_money(note.tax_cents, note.currency)} = {_money(note.total_cents, note.currency)}"
            f" credited to {CREDITED_TENANT}'s balance"
        )

    def print_documents(self) -> None:
        """Each issued document rendered to a PDF under var/documents/, and where it is."""
        folder = settings.VAR_DIR / DOCUMENTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.write("")
        self.write(f"Documents (PDF; emails in {settings.VAR_DIR / OUTBOX_DIR})")
        try:
            import weasyprint  # noqa: F401  (its system libraries: Pango)
        except (ImportError, OSError) as exc:
            self.write(f"  PDFs not written: WeasyPrint cannot load Pango ({exc}); install")
            self.write("  libpango-1.0-0 (bin/test does) — the HTML documents are in the admin")
            return
        invoices = invoices_with_lines(invoices_list(period_start=self.period)).exclude(
            status=InvoiceStatus.DRAFT
        )
        for invoice in invoices:
            path = folder / f"{invoice.number}.pdf"
            path.write_bytes(render_pdf(invoice_context(invoice)))
            net = invoice.total_cents - invoice.credited_cents
            self.write(
                f"  tax invoice {invoice.number} ({invoice.tenant_id}, net after notes "
                f"{_money(net, invoice.currency)}): {path}"
            )
        for note in CreditNote.objects.filter(invoice__period_start=self.period).order_by("id"):
            path = folder / f"{note.number}.pdf"
            path.write_bytes(render_pdf(note_context(note)))
            self.write(
                f"  adjustment note {note.number} (against {note.invoice.number}, GST effect "
                f"-{_money(note.tax_cents, note.currency)}): {path}"
            )

    def print_next_month(self) -> None:
        """The credit consumed by the credited tenant's next invoice, once that month is over
        (its recurring charges; its usage is metered when that month is lived)."""
        following = next_month(self.period)
        self.write("")
        credits = credit_available([CREDITED_TENANT]).get(CREDITED_TENANT, ())
        if month_end(following) >= utc_today():
            waiting = sum(credit.available_cents for credit in credits)
            self.write(
                f"{CREDITED_TENANT}'s credit waiting for its {following:%B %Y} invoice: "
                f"{_money(waiting, 'AUD')} (the rollup consumes it once {following:%B} is over)"
            )
            return
        with _quiet_logs():
            roll_up_period(following, tenant_ids=[CREDITED_TENANT], actor=ACTOR)
        invoice = invoices_with_lines(
            invoices_list(period_start=following, tenant_id=CREDITED_TENANT)
        ).first()
        if invoice is None:
            return
        self.write(
            f"{CREDITED_TENANT}'s next invoice ({following:%B %Y}, recurring charges only: that "
            f"month's usage is not metered by this demo), {invoice.status}"
        )
        for line in invoice.lines.all():
            self.write(
                f"      {line.kind:<9} {line.description[:52]:<52} "
                f"{_money(line.amount_cents, invoice.currency):>14}"
            )
        self.write(
            f"      amount due {_money(invoice.amount_due_cents, invoice.currency)} "
            f"(credit {_money(invoice.credit_cents, invoice.currency)} consumed after GST)"
        )

    def print_drift_inbox(self) -> None:
        self.write("")
        self.write("Drift inbox (open)")
        drifts = list(drift_list())
        if not drifts:
            self.write("  nothing open")
        for drift in drifts:
            self.write(
                f"  {drift.resource.name:<14} {drift.field:<10} expected {drift.expected!s:<14} "
                f"actual {drift.actual!s:<14} since {drift.detected_at:%Y-%m-%d %H:%M}"
            )

    def get_paid(self) -> str:
        """Issue the month's invoices; two tenants pay on time, acme does not: the clock runs
        past its due date through the default policy (reminders, past_due, suspended with its
        droplets' power-off waiting for an operator), then acme pays and is reinstated. acme's
        tenant app hears it all on a local webhook receiver."""
        with run_receiver() as receiver:
            hook = webhook_endpoint_create(
                tenant_id=LATE_PAYER, url=receiver.url, events=list(EVENT_TYPES), actor=ACTOR
            )
            receiver.secret = hook.secret
            dunning_policy_save(
                policy=default_policy(), values={"power_off_on_suspend": True}, actor=ACTOR
            )
            month = TenantInvoice.objects.filter(period_start=self.period)
            for invoice in month.filter(status=InvoiceStatus.DRAFT).order_by("tenant_id"):
                invoice_issue(invoice=invoice, actor=ACTOR)
            for invoice in month.exclude(tenant_id=LATE_PAYER).order_by("tenant_id"):
                invoice_mark_paid(invoice=invoice, actor="demo:finance")
            late = month.get(tenant_id=LATE_PAYER)
            self.write(
                f"  {late.number} ({LATE_PAYER}) issued, due {late.due_on}; policy: "
                f"{_policy_text(default_policy())}"
            )
            self._deliver_due()
            for offset in sorted({*default_policy().reminder_offsets, 3, 14}):
                today = late.due_on + dt.timedelta(days=offset)
                report = dunning_run(today=today)
                self._deliver_due()
                done = ", ".join(_step_name(key) for key in report.applied) or "nothing due"
                self.write(f"  {today} (due {offset:+d} days): {done}")
            pending = InfrastructureAction.objects.filter(
                deployment__tenant_id=LATE_PAYER, status="pending"
            )
            self.write(
                f"  power-off of {pending.count()} droplet(s) waiting for an operator's Confirm "
                "(admin: Dunning and receivables > Infrastructure actions)"
            )
            for row in aged_receivables(today=late.due_on + dt.timedelta(days=14)):
                self.write(
                    f"  owed by {row.tenant_id}: {_money(row.total, row.currency)} "
                    f"({_money(row.days_1_30, row.currency)} 1-30 days overdue)"
                )
            invoice_mark_paid(invoice=late, actor="demo:finance")
            # The payment's settlement runs after its commit; the next daily run finishes it
            # where that has not happened (so also here).
            dunning_run(today=late.due_on + dt.timedelta(days=15))
            self._deliver_due()
            reinstated = DunningStep.objects.filter(invoice=late, kind="reinstated")
            dismissed = InfrastructureAction.objects.filter(
                deployment__tenant_id=LATE_PAYER, status="dismissed"
            ).count()
            self.write(
                f"  paid: {', '.join(_reinstated(s) for s in reinstated)}; "
                f"{dismissed} power-off(s) dismissed, nothing was switched off"
            )
            self.write(f"  webhooks received by {LATE_PAYER}'s app at {receiver.url}:")
            for item in receiver.received:
                check = "signature verified" if item.verified else "SIGNATURE FAILED"
                self.write(f"    {item.event_type:<26} {item.summary:<44} {check}")
        verified = sum(1 for item in receiver.received if item.verified)
        return (
            f"{month.filter(status=InvoiceStatus.PAID).count()} invoices paid, {LATE_PAYER} "
            f"reminded, past_due, suspended and reinstated; {verified} signed webhooks verified"
        )

    @staticmethod
    def _deliver_due() -> None:
        """The webhooks sweep (what `webhooks.retry_due` does each minute): sends what the
        on-commit queue has not already delivered."""
        for delivery_id in webhook_deliveries_due():
            webhook_delivery_attempt(delivery_id=delivery_id)

    def ingest_cogs(self) -> str:
        billing_history_sync(client=self.client, enqueue_ingest=False)
        invoice = CloudInvoice.objects.get(period=self.period)
        result = invoice_ingest(invoice=invoice, client=self.client, push_to_finance=False)
        return (
            f"{result.line_count} lines, {result.matched} matched, {result.unmatched} unmatched, "
            f"{result.ambiguous} ambiguous; "
            f"USD {result.net_amount:,.2f} + tax {result.tax_amount:,.2f}"
        )


@contextlib.contextmanager
def _email_to_files():
    """Documents are emailed through Django's email framework; the demo writes each message to
    var/outbox/ (the file backend) instead of printing PDFs as base64 on the console."""
    from django.test.utils import override_settings

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(settings.VAR_DIR / OUTBOX_DIR),
    ):
        yield


@contextlib.contextmanager
def _quiet_logs():
    """The services log every sync and metering run; the demo prints its own summaries."""
    # Not only the root's level: Celery, running tasks eagerly, sets up its own loggers.
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _policy_text(policy) -> str:
    reminders = ", ".join(f"{o:+d}" for o in policy.reminder_offsets)
    return (
        f"reminders at {reminders} days, past_due after {policy.past_due_after_days}, "
        f"suspended after {policy.suspend_after_days}"
        f"{', power-off on suspension' if policy.power_off_on_suspend else ''}"
    )


def _reinstated(step) -> str:
    if step.outcome == "applied":
        return f"{step.deployment} reinstated"
    return f"{step.deployment} reinstatement {step.outcome}"


def _step_name(key: str) -> str:
    """`12:-:reminder-3` → `reminder -3`, `12:4:past_due` → `past_due`."""
    step = key.split(":", 2)[2]
    for sign in "+-":
        if step.startswith("reminder") and sign in step:
            return f"reminder {step[len('reminder') :]}"
    return step


def _change_text(before: CloudResourceHistory, after: CloudResourceHistory) -> str:
    """`status active → off`, `size 100 → 200`, `moved globex-api → acme-shop`."""
    parts = []
    if before.status != after.status:
        parts.append(f"{before.status} → {after.status}")
    if before.size != after.size:
        parts.append(f"resized {_qty(before.size)} → {_qty(after.size)} GB")
    if before.deployment_id != after.deployment_id:
        parts.append(f"moved {before.deployment.slug} → {after.deployment.slug}")
    return ", ".join(parts)


def _usage_text(resource_id: int, first: dt.date, last: dt.date) -> str:
    """The resource's metered usage of [first, last] per deployment: exact fractions summed."""
    rows = UsageRecord.objects.filter(
        resource_id=resource_id,
        period_start__gte=_at(first),
        period_start__lt=_at(last + dt.timedelta(days=1)),
    ).exclude(source=UsageSource.MEASURED)
    totals: dict[tuple[str, str], Fraction] = {}
    for slug, kind, numerator, denominator in rows.values_list(
        "deployment__slug", "resource_kind", "qty_numerator", "qty_denominator"
    ):
        key = (slug, kind)
        totals[key] = totals.get(key, Fraction(0)) + Fraction(numerator) / denominator
    return "; ".join(
        f"{_fraction_text(qty)} {kind} to {slug}" for (slug, kind), qty in sorted(totals.items())
    )


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{value.numerator}/{value.denominator} = {decimal:.6f}"


def _qty(value: Decimal | None) -> str:
    return "?" if value is None else f"{value.normalize():f}"


def _per_unit(per_base_unit: int, kind: str, item=None) -> int:
    """A price per base unit as a price per the item's overage unit (per 1,000 tokens...)."""
    base = billing_kinds.BILLING_KINDS[kind]
    unit = item.overage_unit if item is not None else base.overage_unit
    factor = billing_kinds.UNITS[unit].factor / billing_kinds.UNITS[base.base_unit].factor
    return int(per_base_unit * factor)


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{currency} {cents_to_units(abs(cents)):,}"


def _maybe_money(cents: int | None, currency: str) -> str:
    return "—" if cents is None else _money(cents, currency)


def _percent(value) -> str:
    return "—" if value is None else f"{value}%"


class _Null:
    def write(self, *_args, **_kwargs) -> None:
        pass

    def flush(self) -> None:
        pass
