"""The dunning run and settlement (docs/decisions.md, "Dunning").

The daily run walks the unpaid issued invoices with a due date; for each, under the invoice's
dunning lock (`dunning.locks`), it works out which steps of the default policy are due today and
applies each that has no row yet:

- reminders (invoice-wide, days relative to `due_on`; only the latest one due is sent, earlier
  ones that were never sent are recorded as skipped);
- `past_due` at due + grace and `suspended` at due + N days, for every deployment the invoice
  bills, through `deployments.services.deployment_transition` with actor `system` and the
  invoice named in the reason.

Every step writes one `DunningStep` row whose unique key is (invoice, deployment, step): a
second worker, or a re-run of the day, finds the row and does nothing. `billing_action_suspended`
on a deployment holds its steps (and an invoice's reminders when any of its deployments is held):
the step is recorded as `held` once and applied on the first run after the hold is lifted.

The rule for hand-made changes: a step acts only on the state it expects (past_due only from
active; suspended from active or past_due; reinstatement only from past_due or suspended). A
deployment an operator moved elsewhere gets the step recorded as `skipped` with its state, and
dunning never moves it back: the policy continues from the state it finds.

Settlement (`dunning_invoice_settled`, queued by the invoice's settle hook on payment) reinstates
what this invoice's dunning moved: past_due / suspended → active, unless another unpaid invoice's
dunning still holds the deployment there. A void invoice is no longer walked: its dunning stops.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.errors import CALLER_ERRORS
from deployments.models import Deployment, DeploymentState
from deployments.services import deployment_transition
from dunning import infrastructure
from dunning.locks import lock_invoice_dunning
from dunning.models import DunningPolicy, DunningStep, StepKind, StepOutcome
from dunning.notify import reminder_email_on_commit
from dunning.policy import default_policy
from invoicing.models import InvoiceStatus, TenantInvoice, TenantInvoiceLine

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
MOVED_STATES = (StepKind.PAST_DUE, StepKind.SUSPENDED)


@dataclass
class RunReport:
    day: dt.date
    invoices: int = 0
    applied: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "invoices": self.invoices,
            "applied": self.applied,
            "held": self.held,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def dunning_run(*, today: dt.date) -> RunReport:
    """Apply every step due on `today` (each invoice in its own durable transaction)."""
    report = RunReport(day=today)
    policy = default_policy()
    unpaid = TenantInvoice.objects.filter(
        status=InvoiceStatus.ISSUED, due_on__isnull=False
    ).values_list("pk", flat=True)
    for invoice_id in list(unpaid.order_by("due_on", "pk")):
        report.invoices += 1
        _contained(report, invoice_id, lambda i=invoice_id: _run_invoice(i, policy, today, report))
    # Paid invoices whose reinstatement is still to do (held, or the payment's task was lost).
    for invoice_id in _settlements_outstanding():
        _contained(report, invoice_id, lambda i=invoice_id: _settle(i, SYSTEM_ACTOR, report))
    return report


def dunning_invoice_settled(*, invoice_id: int, actor: str) -> RunReport:
    """Reinstate what the dunning of a paid invoice moved (the settle hook's task runs this)."""
    report = RunReport(day=timezone.now().date())
    _contained(report, invoice_id, lambda: _settle(invoice_id, actor, report))
    return report


def _contained(report: RunReport, invoice_id: int, work) -> None:
    try:
        with transaction.atomic(durable=True):
            work()
    except (*CALLER_ERRORS, IntegrityError) as exc:
        logger.warning("dunning of invoice %s failed: %s", invoice_id, exc)
        report.failed.append(f"invoice {invoice_id}: {exc}")


# ---------------------------------------------------------------------------------------------
# One invoice's run
# ---------------------------------------------------------------------------------------------


def _run_invoice(invoice_id: int, policy: DunningPolicy, today: dt.date, report) -> None:
    lock_invoice_dunning(invoice_id)
    invoice = TenantInvoice.objects.get(pk=invoice_id)
    if invoice.status != InvoiceStatus.ISSUED or invoice.due_on is None:
        return  # paid or voided since the list was read: its dunning has stopped
    steps = {step.key: step for step in DunningStep.objects.filter(invoice=invoice)}
    deployments = billed_deployments(invoice)
    held = [d for d in deployments if d.billing_action_suspended]
    _reminders(invoice, policy, today, steps, held, report)
    for deployment in deployments:
        _state_steps(invoice, deployment, policy, today, steps, report)


def _reminders(invoice, policy, today, steps, held, report) -> None:
    due = [o for o in policy.reminder_offsets if today >= invoice.due_on + dt.timedelta(days=o)]
    for offset in due:
        key = step_key(invoice.pk, None, StepKind.REMINDER, offset)
        existing = steps.get(key)
        if existing is not None and existing.outcome != StepOutcome.HELD:
            continue
        due_day = invoice.due_on + dt.timedelta(days=offset)
        common = {"invoice": invoice, "kind": StepKind.REMINDER, "offset_days": offset}
        if held:
            names = ", ".join(str(d) for d in held)
            _record(report, key, existing, StepOutcome.HELD, due_day, f"held: {names}", **common)
        elif offset != due[-1]:
            _record(report, key, existing, StepOutcome.SKIPPED, due_day, "a later one", **common)
        else:
            reminder_email_on_commit(invoice=invoice, offset_days=offset)
            _emit_reminder(invoice, offset)
            _record(report, key, existing, StepOutcome.APPLIED, due_day, "sent", **common)


def _state_steps(invoice, deployment, policy, today, steps, report) -> None:
    plan = (
        (StepKind.PAST_DUE, policy.past_due_after_days, {DeploymentState.ACTIVE}),
        (
            StepKind.SUSPENDED,
            policy.suspend_after_days,
            {DeploymentState.ACTIVE, DeploymentState.PAST_DUE},
        ),
    )
    for kind, days, from_states in plan:
        due_day = invoice.due_on + dt.timedelta(days=days)
        if today < due_day:
            return
        key = step_key(invoice.pk, deployment.pk, kind)
        existing = steps.get(key)
        if existing is not None and existing.outcome != StepOutcome.HELD:
            continue
        common = {"invoice": invoice, "deployment": deployment, "kind": kind}
        current = Deployment.objects.get(pk=deployment.pk)
        if current.billing_action_suspended:
            detail = "held: billing_action_suspended"
            _record(report, key, existing, StepOutcome.HELD, due_day, detail, **common)
            return  # nothing later happens to a held deployment either
        if current.state not in from_states:
            detail = f"deployment is {current.state}: left as the operator set it"
            _record(report, key, existing, StepOutcome.SKIPPED, due_day, detail, **common)
            continue
        reason = (
            f"dunning: invoice {invoice.number} ({invoice.total_cents} cents "
            f"{invoice.currency}) unpaid, due {invoice.due_on.isoformat()}"
        )
        deployment_transition(
            deployment=current, to_state=kind, actor=SYSTEM_ACTOR, reason=reason, by_tenant=False
        )
        step = _record(report, key, existing, StepOutcome.APPLIED, due_day, reason, **common)
        if kind == StepKind.SUSPENDED and policy.power_off_on_suspend:
            infrastructure.power_off_requested(deployment=current, step=step)


# ---------------------------------------------------------------------------------------------
# Settlement
# ---------------------------------------------------------------------------------------------


def _settle(invoice_id: int, actor: str, report: RunReport) -> None:
    lock_invoice_dunning(invoice_id)
    invoice = TenantInvoice.objects.get(pk=invoice_id)
    if invoice.status != InvoiceStatus.PAID:
        return
    steps = {step.key: step for step in DunningStep.objects.filter(invoice=invoice)}
    moved = sorted(
        {
            step.deployment_id
            for step in steps.values()
            if step.kind in MOVED_STATES and step.outcome == StepOutcome.APPLIED
        }
    )
    today = timezone.now().astimezone(dt.UTC).date()
    for deployment_id in moved:
        key = step_key(invoice.pk, deployment_id, StepKind.REINSTATED)
        existing = steps.get(key)
        if existing is not None and existing.outcome != StepOutcome.HELD:
            continue
        deployment = Deployment.objects.get(pk=deployment_id)
        common = {"invoice": invoice, "deployment": deployment, "kind": StepKind.REINSTATED}
        if deployment.billing_action_suspended:
            detail = "held: billing_action_suspended"
            _record(report, key, existing, StepOutcome.HELD, today, detail, **common)
            continue
        blocking = _other_unpaid_dunning(deployment, invoice)
        if blocking:
            # Not recorded: the other invoice's payment reinstates it.
            logger.info("%s stays: invoice %s is still unpaid", deployment, blocking)
            continue
        if deployment.state not in (DeploymentState.PAST_DUE, DeploymentState.SUSPENDED):
            detail = f"deployment is {deployment.state}: left as the operator set it"
            _record(report, key, existing, StepOutcome.SKIPPED, today, detail, **common)
            continue
        reason = f"dunning: invoice {invoice.number} paid"
        deployment_transition(
            deployment=deployment,
            to_state=DeploymentState.ACTIVE,
            actor=SYSTEM_ACTOR if actor == SYSTEM_ACTOR else f"system (paid by {actor})",
            reason=reason,
            by_tenant=False,
        )
        step = _record(report, key, existing, StepOutcome.APPLIED, today, reason, **common)
        infrastructure.power_on_requested(deployment=deployment, step=step)


def _other_unpaid_dunning(deployment: Deployment, invoice: TenantInvoice) -> str | None:
    other = (
        DunningStep.objects.filter(
            deployment=deployment,
            kind__in=MOVED_STATES,
            outcome=StepOutcome.APPLIED,
            invoice__status=InvoiceStatus.ISSUED,
        )
        .exclude(invoice=invoice)
        .select_related("invoice")
        .first()
    )
    return other.invoice.number if other else None


def _settlements_outstanding() -> list[int]:
    moved = DunningStep.objects.filter(
        invoice__status=InvoiceStatus.PAID, kind__in=MOVED_STATES, outcome=StepOutcome.APPLIED
    ).values_list("invoice_id", "deployment_id")
    done = set(
        DunningStep.objects.filter(invoice__status=InvoiceStatus.PAID, kind=StepKind.REINSTATED)
        .exclude(outcome=StepOutcome.HELD)
        .values_list("invoice_id", "deployment_id")
    )
    return sorted({invoice_id for invoice_id, dep in moved if (invoice_id, dep) not in done})


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def billed_deployments(invoice: TenantInvoice) -> list[Deployment]:
    """The deployments the invoice bills (its lines'), in id order."""
    ids = (
        TenantInvoiceLine.objects.filter(invoice=invoice, deployment__isnull=False)
        .values_list("deployment_id", flat=True)
        .distinct()
    )
    return list(Deployment.objects.filter(pk__in=ids).order_by("pk"))


def step_key(invoice_id: int, deployment_id: int | None, kind: str, offset: int | None = None):
    target = deployment_id if deployment_id is not None else "-"
    suffix = f"{offset:+d}" if offset is not None else ""
    return f"{invoice_id}:{target}:{kind}{suffix}"


def _record(report, key, existing, outcome, due_day, detail, **fields) -> DunningStep:
    now = timezone.now()
    applied_at = now if outcome == StepOutcome.APPLIED else None
    if existing is None:
        step = DunningStep.objects.create(
            key=key,
            outcome=outcome,
            due_day=due_day,
            detail=detail,
            applied_at=applied_at,
            **fields,
        )
    else:
        if existing.outcome == outcome:
            return existing  # still held: recorded once, not every day
        existing.outcome, existing.detail, existing.applied_at = outcome, detail, applied_at
        existing.save(update_fields=["outcome", "detail", "applied_at"])
        step = existing
    getattr(report, outcome).append(key)
    return step


def _emit_reminder(invoice: TenantInvoice, offset: int) -> None:
    """The `invoice.payment_reminder` webhook (webhooks land in their own app)."""
    from webhooks.services import webhook_event_emit

    webhook_event_emit(
        tenant_id=invoice.tenant_id,
        event_type="invoice.payment_reminder",
        data={
            "invoice_id": invoice.pk,
            "number": invoice.number,
            "due_on": invoice.due_on.isoformat(),
            "days_from_due": offset,
            "total_cents": invoice.total_cents,
            "currency": invoice.currency,
        },
    )
