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
from arcadia_cloud.errors import Conflict, Forbidden, field_error
from arcadia_cloud.periods import month_end, month_start
from deployments.models import Deployment, Subscription
from deployments.selectors import pricing_subjects_active_between
from deployments.services import ChangeEffective, subscription_change_plan
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
