"""Plan and add-on changes of a subscription as a tenant or operator asks for them (issue 20):
checked against what is already invoiced, previewed through the one pricing path, and moving
every subscriber of a plan version to another.

The writes are the deployments app's (`deployments.services.subscription_change_plan`, which
splits the month into segments or schedules the change); this module adds what only invoicing
knows — the first day not yet invoiced — and the preview, which runs the very change inside a
savepoint, prices the month with the loader and the kernel the rollup uses, and rolls back: the
preview and the rollup cannot disagree, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import CALLER_ERRORS, Conflict, Forbidden, field_error
from arcadia_cloud.periods import month_end, month_start
from arcadia_cloud.validation import clean_choice
from catalog.models import PlanVersion, PlanVersionStatus
from deployments.models import Deployment, Subscription
from deployments.selectors import pricing_subjects_active_between
from deployments.services import (
    ChangeEffective,
    scheduled_changes_apply_due,
    subscription_change_plan,
)
from invoicing.models import InvoiceStatus, TenantInvoice
from invoicing.pricing_inputs import load_pricing_inputs
from pricing.invoice import PricingError, TenantPrice

logger = logging.getLogger(__name__)


def first_uninvoiced_day(tenant_id: str) -> dt.date | None:
    """The day after the last month the tenant has an invoice for (void ones do not count: the
    month is open again); None when it has none. A change never takes effect before it."""
    last = (
        TenantInvoice.objects.filter(tenant_id=tenant_id)
        .exclude(status=InvoiceStatus.VOID)
        .order_by("-period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    return None if last is None else month_end(last) + dt.timedelta(days=1)


def _subscription_of(deployment: Deployment) -> Subscription:
    subscription = Subscription.objects.select_related("deployment", "plan_version__plan").filter(
        deployment=deployment
    )
    found = subscription.first()
    if found is None:
        raise Conflict(
            f"deployment {deployment} has no subscription; subscribe it first",
            code="not_subscribed",
        )
    return found


@transaction.atomic
def deployment_change_plan(
    *,
    deployment: Deployment,
    plan_code: str,
    addon_codes: Sequence[str] | None,
    effective: str,
    on: dt.date | None,
    actor: str,
    by_operator: bool,
) -> Subscription:
    """Change the deployment's plan / add-ons now or at the period end. `on` is for operators
    (403 for a tenant) and never inside an invoiced month (400 naming `on`)."""
    if on is not None and not by_operator:
        raise Forbidden("only operators choose the day a change takes effect (on)")
    subscription = _subscription_of(deployment)
    return subscription_change_plan(
        subscription=subscription,
        plan_code=plan_code,
        addon_codes=addon_codes,
        effective=effective,
        on=on,
        not_before=first_uninvoiced_day(deployment.tenant_id),
        actor=actor,
    )


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------


class _Rollback(Exception):
    """Raised to undo the change a preview made once it is priced."""


@dataclass(frozen=True)
class ChangePreview:
    effective_on: dt.date
    month: dt.date
    through: dt.date
    before: TenantPrice | None
    after: TenantPrice | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "effective_on": self.effective_on.isoformat(),
            "month": f"{self.month:%Y-%m}",
            "through": self.through.isoformat(),
            "before": _price_body(self.before),
            "after": _price_body(self.after),
            "difference_cents": _total(self.after) - _total(self.before),
        }


def _total(price: TenantPrice | None) -> int:
    return 0 if price is None else price.total_cents


def _price_body(price: TenantPrice | None) -> dict[str, Any] | None:
    if price is None:
        return None
    return {
        "currency": price.currency,
        "subtotal_cents": price.subtotal_cents,
        "tax_cents": price.tax_cents,
        "total_cents": price.total_cents,
        "lines": [line.to_dict() for line in price.lines],
    }


def price_month_of_tenant(tenant_id: str, month: dt.date, through: dt.date) -> TenantPrice | None:
    """The tenant's invoice for the month as the rollup would price it now (usage through
    `through`; late usage of earlier months aside), None when it has nothing to price."""
    start = month_start(month)
    subjects = pricing_subjects_active_between(start, month_end(start), tenant_ids=[tenant_id])
    if not subjects:
        return None
    loaded = load_pricing_inputs(subjects, month=start, through=through)
    try:
        return loaded.price_tenant(tenant_id)
    except PricingError as exc:
        raise Conflict(f"the month cannot be priced: {exc}", code="not_priceable") from exc


def deployment_change_plan_preview(
    *,
    deployment: Deployment,
    plan_code: str,
    addon_codes: Sequence[str] | None,
    effective: str,
    on: dt.date | None,
    actor: str,
    by_operator: bool,
) -> ChangePreview:
    """What the change does to the month it takes effect in, so far (usage through today or the
    month's end): the tenant's invoice before and after, through the rollup's pricing path.
    The change is made in a savepoint and rolled back: nothing is written."""
    today = utc_today()
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            subscription = deployment_change_plan(
                deployment=deployment,
                plan_code=plan_code,
                addon_codes=addon_codes,
                effective=effective,
                on=on,
                actor=actor,
                by_operator=by_operator,
            )
            effective_on = _effective_on(subscription, effective, on, today)
            if effective == ChangeEffective.PERIOD_END:  # as the 1st will, inside the savepoint
                scheduled_changes_apply_due(through=effective_on, actor=actor, durable=False)
            month = month_start(effective_on)
            through = min(today, month_end(month)) if month <= today else month
            outcome["after"] = price_month_of_tenant(deployment.tenant_id, month, through)
            outcome |= {"effective_on": effective_on, "month": month, "through": through}
            raise _Rollback
    except _Rollback:
        pass
    before = price_month_of_tenant(deployment.tenant_id, outcome["month"], outcome["through"])
    return ChangePreview(before=before, **outcome)


def _effective_on(
    subscription: Subscription, effective: str, on: dt.date | None, today: dt.date
) -> dt.date:
    if effective == ChangeEffective.PERIOD_END:
        pending = subscription.scheduled_changes.filter(status="pending").first()
        if pending is None:  # pragma: no cover - the service just wrote it
            raise field_error("effective", "no change was scheduled")
        return pending.effective_on
    return today if on is None else on


# ---------------------------------------------------------------------------------------------
# Moving every subscriber of a version to another version of the same plan
# ---------------------------------------------------------------------------------------------

MIGRATION_CHUNK = 200


@dataclass(frozen=True)
class MigrationResult:
    from_version: PlanVersion
    to_version: PlanVersion
    effective: str
    effective_on: dt.date
    preview: bool
    moved: tuple[dict[str, Any], ...]
    failed: tuple[dict[str, Any], ...]
    tenants: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_version": self.from_version.pk,
            "to_version": self.to_version.pk,
            "effective": self.effective,
            "effective_on": self.effective_on.isoformat(),
            "preview": self.preview,
            "moved": list(self.moved),
            "failed": list(self.failed),
            "tenants": list(self.tenants),
        }


def _migration_target(from_version: PlanVersion, to_version_id: object) -> PlanVersion:
    if isinstance(to_version_id, bool) or not isinstance(to_version_id, int):
        raise field_error("to_version", "must be the id of a plan version")
    target = PlanVersion.objects.select_related("plan").filter(pk=to_version_id).first()
    if target is None:
        raise field_error("to_version", f"no plan version with id {to_version_id}")
    if target.plan_id != from_version.plan_id:
        raise field_error(
            "to_version",
            f"{target.plan.code} v{target.number} is another plan's version; a migration moves "
            f"subscribers between versions of {from_version.plan.code}",
        )
    if target.pk == from_version.pk:
        raise field_error("to_version", "is the version the subscribers are already on")
    if target.status != PlanVersionStatus.ACTIVE:
        raise field_error(
            "to_version",
            f"{target.plan.code} v{target.number} is {target.status}; subscribers move only to "
            "the active (published) version",
        )
    return target


def plan_version_migrate(
    *,
    from_version: PlanVersion,
    to_version_id: object,
    effective: str,
    on: dt.date | None = None,
    actor: str,
    preview: bool = False,
) -> MigrationResult:
    """Move every subscription on `from_version` to `to_version` (same plan, active), now from
    `on` (default today: each month split into segments) or from the next period (scheduled),
    keeping each subscription's add-ons. In chunks of MIGRATION_CHUNK, each subscription in its
    own savepoint and audited (its event names the migration); one that cannot move (an
    invoiced period, add-ons the version cannot carry, a change already scheduled) is reported
    in `failed` and the others carry on. Idempotent: a re-run finds only the subscriptions still
    on the old version. With `preview`, everything is done, priced per tenant (the month the
    move takes effect in, before and after, through the rollup's path) and rolled back."""
    target = _migration_target(from_version, to_version_id)
    effective = clean_choice("effective", effective, ChangeEffective.CHOICES)
    today = utc_today()
    if effective == ChangeEffective.PERIOD_END:
        if on is not None:
            raise field_error("on", "a move at the period end takes effect on the 1st; omit on")
        effective_on = month_end(today) + dt.timedelta(days=1)
    else:
        effective_on = today if on is None else on
    month = month_start(effective_on)
    through = min(today, month_end(month)) if month <= today else month
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            moved, failed = _move_all(from_version, target, effective, on, actor)
            tenants = sorted({row["tenant_id"] for row in moved})
            if preview:
                if effective == ChangeEffective.PERIOD_END:
                    scheduled_changes_apply_due(through=effective_on, actor=actor, durable=False)
                outcome["after"] = {t: price_month_of_tenant(t, month, through) for t in tenants}
                raise _Rollback
    except _Rollback:
        pass
    tenant_rows: list[dict[str, Any]] = []
    if preview:
        for tenant_id in tenants:
            before = price_month_of_tenant(tenant_id, month, through)
            after = outcome["after"][tenant_id]
            tenant_rows.append(
                {
                    "tenant_id": tenant_id,
                    "month": f"{month:%Y-%m}",
                    "before_total_cents": _total(before),
                    "after_total_cents": _total(after),
                    "difference_cents": _total(after) - _total(before),
                }
            )
    return MigrationResult(
        from_version=from_version,
        to_version=target,
        effective=effective,
        effective_on=effective_on,
        preview=preview,
        moved=tuple(moved),
        failed=tuple(failed),
        tenants=tuple(tenant_rows),
    )


def _move_all(
    from_version: PlanVersion, target: PlanVersion, effective: str, on, actor: str
) -> tuple[list[dict], list[dict]]:
    moved: list[dict] = []
    failed: list[dict] = []
    pending_elsewhere = Subscription.objects.filter(
        scheduled_changes__status="pending", scheduled_changes__plan_version=target
    ).values_list("pk", flat=True)
    ids = list(
        Subscription.objects.filter(plan_version=from_version)
        .exclude(status="cancelled")
        .exclude(pk__in=pending_elsewhere)  # already scheduled by an earlier run: idempotent
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    details = {
        "migration": {"from_version_id": from_version.pk, "to_version_id": target.pk},
    }
    for offset in range(0, len(ids), MIGRATION_CHUNK):
        chunk = Subscription.objects.select_related("deployment", "plan_version__plan").filter(
            pk__in=ids[offset : offset + MIGRATION_CHUNK]
        )
        for subscription in chunk.order_by("pk"):
            row = {
                "subscription_id": subscription.pk,
                "tenant_id": subscription.deployment.tenant_id,
                "deployment": subscription.deployment.slug,
            }
            try:
                with transaction.atomic():
                    subscription_change_plan(
                        subscription=subscription,
                        plan_code=target.plan.code,
                        addon_codes=None,
                        effective=effective,
                        on=on,
                        not_before=first_uninvoiced_day(subscription.deployment.tenant_id),
                        actor=actor,
                        details=details,
                    )
            except CALLER_ERRORS as exc:
                failed.append({**row, "reason": str(getattr(exc, "message", exc))})
                continue
            moved.append(row)
    return moved, failed
