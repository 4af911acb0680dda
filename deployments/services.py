"""Every write to deployments and subscriptions (SPEC §9), and attaching resources to them.

Each service changes state and writes its audit row (DeploymentEvent, SubscriptionEvent) in the
same transaction, under the row locks of `deployments.locks`, taken in the documented order
(docs/CONVENTIONS.md): deployment → subscription. Resources are inventory's: attaching checks
and locks the deployment here, then inventory's services lock the resources and write their
attribution and its events.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import (
    CALLER_ERRORS,
    Conflict,
    Forbidden,
    InvalidStateChange,
    field_error,
)
from arcadia_cloud.periods import day_bounds, month_end, month_start
from arcadia_cloud.tenancy import clean_tenant_id
from arcadia_cloud.validation import (
    clean_choice,
    clean_date,
    clean_optional_text,
    clean_slug,
    clean_text,
)
from catalog.models import Addon, PlanVersion, PlanVersionStatus
from catalog.selectors import active_version_required, addons_for_plan_version
from deployments import state_machine
from deployments.locks import lock_deployment, lock_subscription, lock_subscription_of
from deployments.models import (
    Deployment,
    DeploymentEvent,
    DeploymentState,
    LLMMode,
    ScheduledChangeStatus,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
    SubscriptionEventType,
    SubscriptionScheduledChange,
    SubscriptionSegment,
    SubscriptionStatus,
)
from inventory.services import (
    AttachOutcome,
    clean_resource_ids,
    resources_attach_to_deployment,
    resources_detach_from_deployment,
)
from webhooks.services import webhook_event_emit

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def deployment_create(
    *,
    tenant_id: str,
    slug: str,
    display_name: str,
    actor: str,
    region: str = "",
    llm_mode: str = LLMMode.PASSTHROUGH,
    template_code: str | None = None,
    template_version: str | None = None,
) -> Deployment:
    """A new deployment, `active` from the start, with its first event ("" → active).

    A slug is unique per tenant; a duplicate — also one racing this call — is a 400 naming
    `slug`, never a 500. `tenant_id` must already be in its one spelling (API callers' claims
    are normalized at authentication); any other is a 400, never silently repaired.
    """
    fields = {
        "tenant_id": clean_tenant_id(tenant_id),
        "slug": clean_slug("slug", slug, max_length=100),
        "display_name": clean_text("display_name", display_name, max_length=200),
        "region": clean_text("region", region or "", max_length=32, required=False),
        "llm_mode": clean_choice("llm_mode", llm_mode, LLMMode.values),
        "template_code": clean_optional_text("template_code", template_code, max_length=100),
        "template_version": clean_optional_text(
            "template_version", template_version, max_length=50
        ),
    }
    if Deployment.objects.filter(tenant_id=fields["tenant_id"], slug=fields["slug"]).exists():
        raise _slug_taken(fields["slug"])
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(state=DeploymentState.ACTIVE, **fields)
    except IntegrityError:
        raise _slug_taken(fields["slug"]) from None
    DeploymentEvent.objects.create(
        deployment=deployment,
        from_state="",
        to_state=DeploymentState.ACTIVE,
        actor=actor,
        reason="created",
    )
    return deployment


@transaction.atomic
def deployment_transition(
    *, deployment: Deployment, to_state: str, actor: str, reason: str = "", by_tenant: bool
) -> Deployment:
    """Move a deployment along one edge of the transition map, and its subscription with it.

    - an edge not in the map → 422 listing the allowed targets (`extra["allowed"]`);
    - an operator-only edge asked for by a tenant (`by_tenant=True`) → 403;
    - cancelling cancels the subscription (cancelled_on = today, UTC); pausing and resuming
      pause and resume it. Suspension and past-due leave it active: they are operational states
      and billing continues.
    """
    clean_choice("to_state", to_state, DeploymentState.values)
    locked = lock_deployment(deployment.pk)
    from_state = locked.state
    if not state_machine.is_allowed(from_state, to_state):
        allowed = state_machine.allowed_targets(from_state)
        raise InvalidStateChange(
            f"deployment {locked} cannot go from {from_state} to {to_state}; allowed from "
            f"{from_state}: {', '.join(allowed) or 'nothing (final state)'}",
            extra={"from_state": from_state, "allowed": allowed},
        )
    if by_tenant and not state_machine.tenant_may(from_state, to_state):
        raise Forbidden(
            f"{from_state} → {to_state} is for operators only; tenants may pause an active "
            "deployment, resume a paused one and cancel one that is trial, active or paused"
        )
    locked.state = to_state
    locked.save(update_fields=["state", "updated_at"])
    DeploymentEvent.objects.create(
        deployment=locked, from_state=from_state, to_state=to_state, actor=actor, reason=reason
    )
    _follow_with_subscription(locked, from_state, to_state, actor=actor, reason=reason)
    webhook_event_emit(
        tenant_id=locked.tenant_id,
        event_type="deployment.state_changed",
        data={
            "deployment_id": locked.pk,
            "slug": locked.slug,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "reason": reason,
        },
    )
    return locked


def _follow_with_subscription(
    deployment: Deployment, from_state: str, to_state: str, *, actor: str, reason: str
) -> None:
    subscription = lock_subscription_of(deployment)
    if subscription is None or subscription.status == SubscriptionStatus.CANCELLED:
        return
    details = {"deployment_transition": [from_state, to_state], "reason": reason}
    if to_state == DeploymentState.CANCELLED:
        subscription.status = SubscriptionStatus.CANCELLED
        subscription.cancelled_on = utc_today()
        subscription.save(update_fields=["status", "cancelled_on", "updated_at"])
        details["cancelled_on"] = subscription.cancelled_on.isoformat()
        _subscription_event(subscription, SubscriptionEventType.CANCELLED, actor, details)
    elif to_state == DeploymentState.PAUSED and subscription.status == SubscriptionStatus.ACTIVE:
        _set_subscription_status(subscription, SubscriptionStatus.PAUSED)
        _subscription_event(subscription, SubscriptionEventType.PAUSED, actor, details)
    elif (
        from_state == DeploymentState.PAUSED
        and to_state == DeploymentState.ACTIVE
        and subscription.status == SubscriptionStatus.PAUSED
    ):
        _set_subscription_status(subscription, SubscriptionStatus.ACTIVE)
        _subscription_event(subscription, SubscriptionEventType.RESUMED, actor, details)


def _set_subscription_status(subscription: Subscription, status: str) -> None:
    subscription.status = status
    subscription.save(update_fields=["status", "updated_at"])


@transaction.atomic
def deployment_set_billing_action_suspended(
    *, deployment_ids: Iterable[int], suspended: bool, actor: str
) -> int:
    """Hold (or release) automated billing actions on deployments; returns how many changed.

    One UPDATE for the lot. The flag is not a state, so it writes no DeploymentEvent; the
    change is logged with its actor.
    """
    ids = sorted(set(deployment_ids))
    changed = (
        Deployment.objects.filter(pk__in=ids)
        .exclude(billing_action_suspended=suspended)
        .update(billing_action_suspended=suspended, updated_at=timezone.now())
    )
    logger.info(
        "billing_action_suspended=%s set on %d of %d deployments (first ids %s) by %s",
        suspended,
        changed,
        len(ids),
        ids[:20],
        actor,
    )
    return changed


def _slug_taken(slug: str):
    return field_error(
        "slug", f"{slug!r} is already used by another deployment of this tenant; pick another"
    )


# ---------------------------------------------------------------------------------------------
# Subscriptions
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def subscription_create(
    *,
    deployment: Deployment,
    plan_code: str,
    addon_codes: Sequence[str] = (),
    starts_on: dt.date | None = None,
    actor: str,
    by_tenant: bool = False,
    trial_days: int | None = None,
) -> Subscription:
    """Bind a deployment to the plan's ACTIVE version with add-ons snapshotted from the catalog.

    `trial_days` (default: the version's `trial_days`, usually 0) starts a free trial: the
    deployment enters `trial`, `trial_ends_at` is the first instant after the trial's last day
    (00:00 UTC of the first billable day) and nothing of the trial days is billed. A trial is
    only for a deployment that is active and has never subscribed.

    The current period is the calendar month containing `starts_on` (default: today, UTC). A
    tenant (`by_tenant=True`) cannot backdate a start — that would bill days already past;
    operators and internal callers (the demo, migrations of existing customers) can.
    400 naming `plan_code` / `addons` / `starts_on` for bad input; 409 when the deployment is
    already subscribed or not in good standing.
    """
    version = active_version_required(plan_code, field="plan_code")
    addons = addons_for_plan_version(version=version, codes=addon_codes, field="addons")
    starts_on = utc_today() if starts_on is None else clean_date("starts_on", starts_on)
    if by_tenant and starts_on < utc_today():
        raise field_error(
            "starts_on", f"{starts_on} is in the past; a subscription starts today or later"
        )
    trial_days = version.trial_days if trial_days is None else _clean_trial_days(trial_days)

    locked = lock_deployment(deployment.pk)
    if Subscription.objects.filter(deployment=locked).exists():
        raise _already_subscribed(locked)
    if trial_days and locked.state != DeploymentState.ACTIVE:
        raise Conflict(
            f"deployment {locked} is {locked.state}; a trial starts only on an active "
            "deployment that has never subscribed",
            code="trial_not_allowed",
            fields={"trial_days": ["the deployment is not eligible for a trial"]},
        )
    if locked.state not in state_machine.SUBSCRIBABLE_STATES:
        raise Conflict(
            f"deployment {locked} is {locked.state}; only a trial or active deployment can "
            "subscribe",
            code="deployment_not_subscribable",
        )
    subscription = Subscription(
        deployment=locked,
        plan_version=version,
        status=SubscriptionStatus.ACTIVE,
        started_on=starts_on,
        current_period_start=month_start(starts_on),
        current_period_end=month_end(starts_on),
        trial_ends_at=(
            day_bounds(starts_on + dt.timedelta(days=trial_days))[0] if trial_days else None
        ),
    )
    try:
        with transaction.atomic():
            subscription.save(force_insert=True)
    except IntegrityError:
        raise _already_subscribed(locked) from None
    attached = _attach_snapshots(subscription, addons)
    details = {
        **_version_ref(version),
        "starts_on": starts_on.isoformat(),
        "addons": [_snapshot_ref(snapshot) for snapshot in attached],
    }
    if trial_days:
        ends_at = subscription.trial_ends_at.isoformat()
        details |= {"trial_days": trial_days, "trial_ends_at": ends_at}
        _enter_trial(locked, trial_days, subscription.trial_ends_at, actor=actor)
    _subscription_event(subscription, SubscriptionEventType.CREATED, actor, details)
    return subscription


MAX_TRIAL_DAYS = 366


def _clean_trial_days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TRIAL_DAYS:
        raise field_error(
            "trial_days", f"must be a whole number of days from 0 to {MAX_TRIAL_DAYS}"
        )
    return value


def _enter_trial(
    deployment: Deployment, trial_days: int, ends_at: dt.datetime, *, actor: str
) -> None:
    """active → trial, the one edge only subscribing with a trial takes (state_machine)."""
    from_state, to_state = state_machine.TRIAL_ENTRY
    deployment.state = to_state
    deployment.save(update_fields=["state", "updated_at"])
    DeploymentEvent.objects.create(
        deployment=deployment,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        reason=f"free trial of {trial_days} days, ends {ends_at.isoformat()}",
    )


@transaction.atomic
def subscription_attach_addon(
    *, subscription: Subscription, addon_code: str, actor: str
) -> SubscriptionAddon:
    """Attach one more add-on at today's catalog qty and price (snapshotted)."""
    locked = lock_subscription(subscription.pk)
    _refuse_if_cancelled(locked)
    version = _version_with_items(locked.plan_version_id)
    [addon] = addons_for_plan_version(version=version, codes=[addon_code], field="addon_code")
    if SubscriptionAddon.objects.filter(subscription=locked, addon=addon).exists():
        raise Conflict(
            f"{addon.code} is already attached to this subscription; each add-on attaches once",
            fields={"addon_code": ["already attached"]},
        )
    [snapshot] = _attach_snapshots(locked, [addon])
    _subscription_event(
        locked, SubscriptionEventType.ADDON_ATTACHED, actor, _snapshot_ref(snapshot)
    )
    return snapshot


@transaction.atomic
def subscription_change_plan_version(
    *, subscription: Subscription, version: PlanVersion, actor: str
) -> Subscription:
    """Move a subscription to another ACTIVE version (a price change, upgrade or downgrade).

    The version bound at rollup time prices the whole period (of a subscription split into
    segments, the open segment's days); `subscription_change_plan` is the dated change that
    splits the month instead. Drafts, retired versions, the
    current version and versions that cannot carry the attached add-ons are refused (400
    naming `version`).
    """
    locked = lock_subscription(subscription.pk)
    _refuse_if_cancelled(locked)
    target = _version_with_items(version.pk)
    if target.status != PlanVersionStatus.ACTIVE:
        raise field_error(
            "version",
            f"{target.plan.code} v{target.number} is {target.status}; a subscription moves only "
            "to an active (published) version",
        )
    if target.pk == locked.plan_version_id:
        raise field_error("version", f"the subscription is already on {_version_label(target)}")
    _require_addons_fit(locked, target)
    previous = locked.plan_version
    locked.plan_version = target
    locked.save(update_fields=["plan_version", "updated_at"])
    # A subscription split into segments keeps its current version on the open one.
    locked.segments.filter(ends_on__isnull=True).update(plan_version=target)
    _subscription_event(
        locked,
        SubscriptionEventType.PLAN_CHANGED,
        actor,
        {"from": _version_ref(previous), "to": _version_ref(target)},
    )
    return locked


def _require_addons_fit(subscription: Subscription, version: PlanVersion) -> None:
    covered = {item.resource_kind for item in version.items.all()}
    for snapshot in subscription.addons.all():
        if snapshot.currency != version.currency:
            raise field_error(
                "version",
                f"attached add-on {snapshot.code} is in {snapshot.currency}; "
                f"{_version_label(version)} bills in {version.currency}",
            )
        if snapshot.resource_kind not in covered:
            raise field_error(
                "version",
                f"attached add-on {snapshot.code} extends {snapshot.resource_kind}, which "
                f"{_version_label(version)} does not include",
            )


def _attach_snapshots(
    subscription: Subscription, addons: Sequence[Addon]
) -> list[SubscriptionAddon]:
    now = timezone.now()
    return SubscriptionAddon.objects.bulk_create(
        SubscriptionAddon(
            subscription=subscription,
            addon=addon,
            code=addon.code,
            name=addon.name,
            resource_kind=addon.resource_kind,
            qty=addon.qty,
            price_cents=addon.price_cents,
            currency=addon.currency,
            attached_at=now,
        )
        for addon in addons
    )


def _version_with_items(version_id: int) -> PlanVersion:
    return PlanVersion.objects.select_related("plan").prefetch_related("items").get(pk=version_id)


def _refuse_if_cancelled(subscription: Subscription) -> None:
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise Conflict(
            f"the subscription of {subscription.deployment} was cancelled on "
            f"{subscription.cancelled_on}; it can no longer change",
            code="subscription_cancelled",
        )


def _already_subscribed(deployment: Deployment) -> Conflict:
    return Conflict(
        f"deployment {deployment} already has a subscription; change its plan version instead",
        code="already_subscribed",
    )


def _subscription_event(
    subscription: Subscription, type_: str, actor: str, details: dict
) -> SubscriptionEvent:
    event = SubscriptionEvent.objects.create(
        subscription=subscription, type=type_, actor=actor, details=details
    )
    webhook_event_emit(
        tenant_id=subscription.deployment.tenant_id,
        event_type="subscription.changed",
        data={
            "subscription_id": subscription.pk,
            "deployment_id": subscription.deployment_id,
            "change": type_,
            "status": subscription.status,
            "details": details,
        },
    )
    return event


def _version_ref(version: PlanVersion) -> dict:
    return {
        "plan_code": version.plan.code,
        "plan_version": version.number,
        "version_id": version.pk,
    }


def _version_label(version: PlanVersion) -> str:
    return f"{version.plan.code} v{version.number}"


def _snapshot_ref(snapshot: SubscriptionAddon) -> dict:
    return {
        "code": snapshot.code,
        "resource_kind": snapshot.resource_kind,
        "qty": str(snapshot.qty),
        "price_cents": snapshot.price_cents,
        "currency": snapshot.currency,
    }


# ---------------------------------------------------------------------------------------------
# Resources of a deployment (inventory writes them; the deployment is checked and locked here)
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def deployment_attach_resources(
    *,
    deployment: Deployment,
    resource_ids: Iterable[int],
    actor: str,
    reassign: bool = False,
    now: dt.datetime | None = None,
) -> AttachOutcome:
    """Tie resources to a deployment that is not archived (409 otherwise), as of `now`
    (default the clock: where the resources' billed history moves to it).

    Inventory checks the resources and writes the attribution
    (`inventory.services.resources_attach_to_deployment`: a resource attached elsewhere is a
    409 unless `reassign=True`; unknown or tombstoned ids are a 400 naming `resource_ids`).
    """
    ids = clean_resource_ids(resource_ids)
    locked = lock_deployment(deployment.pk)
    if locked.state == DeploymentState.ARCHIVED:
        raise Conflict(f"deployment {locked} is archived; nothing can be attached to it")
    return resources_attach_to_deployment(
        resource_ids=ids, deployment_id=locked.pk, actor=actor, reassign=reassign, now=now
    )


@transaction.atomic
def deployment_detach_resources(
    *, deployment: Deployment, resource_ids: Iterable[int], actor: str
) -> list[int]:
    """Untie resources from this deployment (each must be attached to it); returns their ids."""
    ids = clean_resource_ids(resource_ids)
    locked = lock_deployment(deployment.pk)
    return resources_detach_from_deployment(resource_ids=ids, deployment_id=locked.pk, actor=actor)


# ---------------------------------------------------------------------------------------------
# Subscriptions that change (issue 20): segments, scheduled changes, trials
# ---------------------------------------------------------------------------------------------


class ChangeEffective:
    NOW = "now"
    PERIOD_END = "period_end"
    CHOICES = (NOW, PERIOD_END)


@dataclass(frozen=True)
class PlanChange:
    """A checked change, not yet written: the version and add-ons it moves to, from `on`."""

    subscription: Subscription
    version: PlanVersion
    addons: tuple[Addon, ...]
    on: dt.date
    effective: str


def subscription_change_check(
    *,
    subscription: Subscription,
    plan_code: str,
    addon_codes: Sequence[str] | None,
    effective: str,
    on: dt.date | None,
    not_before: dt.date | None,
    today: dt.date,
) -> PlanChange:
    """Check a plan / add-on change and say when it takes effect; writes nothing.

    - `plan_code` names a plan whose ACTIVE version the subscription moves to (400 otherwise);
      the same version with the same add-ons is no change (400 naming `plan_code`);
    - `addon_codes` None keeps the attached add-ons' codes; each must fit the version;
    - `effective` "now": from `on` (default today; a future day is refused — schedule it),
      never before `not_before` (the first day after the tenant's last invoiced period) nor
      the subscription's start, and after the day its current segment began (409: another
      change took effect since — two racing changes, one wins);
    - `effective` "period_end": from the first day of the next month; one pending change at a
      time (409).
    A cancelled subscription or deployment is a 409.
    """
    effective = clean_choice("effective", effective, ChangeEffective.CHOICES)
    _refuse_if_cancelled(subscription)
    if subscription.deployment.state in (DeploymentState.CANCELLED, DeploymentState.ARCHIVED):
        raise Conflict(
            f"deployment {subscription.deployment} is {subscription.deployment.state}; its "
            "subscription can no longer change",
            code="deployment_cancelled",
        )
    version = active_version_required(plan_code, field="plan_code")
    version = _version_with_items(version.pk)
    current_codes = sorted(subscription.addons.values_list("code", flat=True))
    codes = current_codes if addon_codes is None else list(addon_codes)
    addons = tuple(addons_for_plan_version(version=version, codes=codes, field="addons"))
    if version.pk == subscription.plan_version_id and sorted(codes) == current_codes:
        raise field_error(
            "plan_code",
            f"the subscription is already on {_version_label(version)} with these add-ons; "
            "a change must change something",
        )
    if effective == ChangeEffective.PERIOD_END:
        if on is not None:
            raise field_error("on", "a change at the period end takes effect on the 1st; omit on")
        day = month_end(max(today, subscription.started_on)) + dt.timedelta(days=1)
        if subscription.scheduled_changes.filter(status=ScheduledChangeStatus.PENDING).exists():
            raise Conflict(
                "a change is already scheduled for this subscription; cancel it first",
                code="change_already_scheduled",
                fields={"effective": ["a change is already scheduled"]},
            )
        return PlanChange(subscription, version, addons, day, effective)

    day = today if on is None else clean_date("on", on)
    if day > today:
        raise field_error(
            "on", f"{day} is in the future; an immediate change takes effect today or earlier"
        )
    if day < subscription.started_on:
        raise field_error(
            "on", f"{day} is before the subscription started ({subscription.started_on})"
        )
    if not_before is not None and day < not_before:
        raise field_error(
            "on",
            f"{day} is inside a period already invoiced; a change takes effect on "
            f"{not_before} or later",
        )
    open_segment = _open_segment(subscription)
    if open_segment is not None and day <= open_segment.starts_on:
        raise Conflict(
            f"the subscription changed on {open_segment.starts_on}; a change takes effect "
            "after the last one",
            code="change_conflict",
            fields={"on": [f"must be after {open_segment.starts_on}"]},
        )
    if subscription.scheduled_changes.filter(status=ScheduledChangeStatus.PENDING).exists():
        raise Conflict(
            "a change is scheduled for the period end; cancel it before changing now",
            code="change_already_scheduled",
            fields={"effective": ["a change is already scheduled"]},
        )
    return PlanChange(subscription, version, addons, day, effective)


@transaction.atomic
def subscription_change_plan(
    *,
    subscription: Subscription,
    plan_code: str,
    addon_codes: Sequence[str] | None = None,
    effective: str = ChangeEffective.NOW,
    on: dt.date | None = None,
    not_before: dt.date | None = None,
    actor: str,
    details: dict | None = None,
) -> Subscription:
    """Change a subscription's plan and add-ons now (splitting the month into segments) or at
    the period end (scheduled). Checked under the deployment and subscription locks, so of two
    racing changes one wins and the other is refused (`subscription_change_check`). `details`
    go into the event (a version migration names itself there)."""
    lock_deployment(subscription.deployment_id)
    locked = lock_subscription(subscription.pk)
    change = subscription_change_check(
        subscription=locked,
        plan_code=plan_code,
        addon_codes=addon_codes,
        effective=effective,
        on=on,
        not_before=not_before,
        today=utc_today(),
    )
    if change.effective == ChangeEffective.PERIOD_END:
        scheduled = SubscriptionScheduledChange.objects.create(
            subscription=locked,
            plan_version=change.version,
            addon_codes=[addon.code for addon in change.addons],
            effective_on=change.on,
            requested_by=actor,
        )
        _subscription_event(
            locked,
            SubscriptionEventType.CHANGE_SCHEDULED,
            actor,
            {
                "change_id": scheduled.pk,
                "to": _version_ref(change.version),
                "addons": scheduled.addon_codes,
                "effective_on": change.on.isoformat(),
                **(details or {}),
            },
        )
        return locked
    return _apply_change(change, actor=actor, details=details)


def _apply_change(change: PlanChange, *, actor: str, details: dict | None = None) -> Subscription:
    """Write an immediate change (subscription and deployment locked): close the current
    segment the day before `on`, open one on `on`, move the current version and add-ons."""
    subscription, on = change.subscription, change.on
    previous = subscription.plan_version
    before = [_segment_ref(snapshot) for snapshot in subscription.addons.order_by("code")]
    kept = {snapshot.addon_id: snapshot for snapshot in subscription.addons.all()}
    wanted = {addon.pk: addon for addon in change.addons}
    if on == subscription.started_on and not subscription.segments.exists():
        pass  # a change on the first day replaces the terms: there is nothing to split
    else:
        open_segment = _open_segment(subscription)
        if open_segment is None:
            SubscriptionSegment.objects.create(
                subscription=subscription,
                plan_version=previous,
                addons=before,
                starts_on=subscription.started_on,
                ends_on=on - dt.timedelta(days=1),
            )
        else:
            open_segment.ends_on = on - dt.timedelta(days=1)
            open_segment.save(update_fields=["ends_on"])
    SubscriptionAddon.objects.filter(
        subscription=subscription, addon_id__in=set(kept) - set(wanted)
    ).delete()
    _attach_snapshots(subscription, [wanted[pk] for pk in sorted(set(wanted) - set(kept))])
    after = [_segment_ref(snapshot) for snapshot in subscription.addons.order_by("code")]
    if on != subscription.started_on or subscription.segments.exists():
        SubscriptionSegment.objects.create(
            subscription=subscription, plan_version=change.version, addons=after, starts_on=on
        )
    subscription.plan_version = change.version
    subscription.save(update_fields=["plan_version", "updated_at"])
    _subscription_event(
        subscription,
        SubscriptionEventType.PLAN_CHANGED,
        actor,
        {
            "from": _version_ref(previous),
            "to": _version_ref(change.version),
            "on": on.isoformat(),
            "addons_before": before,
            "addons_after": after,
            **(details or {}),
        },
    )
    return subscription


def _segment_ref(snapshot: SubscriptionAddon) -> dict:
    return {**_snapshot_ref(snapshot), "name": snapshot.name}


def _open_segment(subscription: Subscription) -> SubscriptionSegment | None:
    return subscription.segments.filter(ends_on__isnull=True).first()


@transaction.atomic
def subscription_scheduled_change_cancel(
    *, subscription: Subscription, actor: str
) -> SubscriptionScheduledChange:
    """Cancel the pending change of a subscription (404-like 409 when there is none)."""
    locked = lock_subscription(subscription.pk)
    pending = locked.scheduled_changes.filter(status=ScheduledChangeStatus.PENDING).first()
    if pending is None:
        raise Conflict("no change is scheduled for this subscription", code="no_scheduled_change")
    _resolve(pending, ScheduledChangeStatus.CANCELLED, actor)
    _subscription_event(
        locked,
        SubscriptionEventType.CHANGE_CANCELLED,
        actor,
        {"change_id": pending.pk, "effective_on": pending.effective_on.isoformat()},
    )
    return pending


def _resolve(change: SubscriptionScheduledChange, status: str, actor: str) -> None:
    change.status = status
    change.resolved_by = actor
    change.resolved_at = timezone.now()
    change.save(update_fields=["status", "resolved_by", "resolved_at"])


def scheduled_changes_apply_due(
    *, through: dt.date, actor: str = "system", durable: bool = True
) -> list[int]:
    """Apply every pending change effective on or before `through`, each in its own
    transaction under its locks; returns the ids applied. A change that can no longer apply
    (the subscription was cancelled, the version retired) is cancelled with the reason in its
    event. Safe with two workers: each change is re-read under the lock and applied once."""
    due = list(
        SubscriptionScheduledChange.objects.filter(
            status=ScheduledChangeStatus.PENDING, effective_on__lte=through
        )
        .order_by("effective_on", "id")
        .values_list("pk", "subscription_id", "subscription__deployment_id")
    )
    applied = []
    for change_id, subscription_id, deployment_id in due:
        with transaction.atomic(durable=durable):
            if _apply_scheduled(change_id, subscription_id, deployment_id, actor=actor):
                applied.append(change_id)
    return applied


def _apply_scheduled(change_id: int, subscription_id: int, deployment_id: int, *, actor: str):
    lock_deployment(deployment_id)
    locked = lock_subscription(subscription_id)
    change = locked.scheduled_changes.filter(
        pk=change_id, status=ScheduledChangeStatus.PENDING
    ).first()
    if change is None:
        return False  # applied or cancelled meanwhile (another worker)
    version = _version_with_items(change.plan_version_id)
    wanted = list(change.addon_codes)
    try:
        _refuse_if_cancelled(locked)
        if version.status != PlanVersionStatus.ACTIVE:
            raise field_error("plan_code", f"{_version_label(version)} is {version.status}")
        addons = tuple(addons_for_plan_version(version=version, codes=wanted, field="addons"))
    except CALLER_ERRORS as exc:
        _resolve(change, ScheduledChangeStatus.CANCELLED, actor)
        _subscription_event(
            locked,
            SubscriptionEventType.CHANGE_CANCELLED,
            actor,
            {"change_id": change.pk, "reason": f"could not apply: {exc}"},
        )
        return False
    on = max(change.effective_on, locked.started_on)
    open_segment = _open_segment(locked)
    if open_segment is not None and on <= open_segment.starts_on:
        on = open_segment.starts_on + dt.timedelta(days=1)
    _apply_change(
        PlanChange(locked, version, addons, on, ChangeEffective.PERIOD_END),
        actor=actor,
        details={"scheduled_change_id": change.pk},
    )
    _resolve(change, ScheduledChangeStatus.APPLIED, actor)
    return True


# Trials


@transaction.atomic
def subscription_extend_trial(*, subscription: Subscription, days: int, actor: str) -> Subscription:
    """Extend a running trial by `days` (operators); recorded. 409 unless the deployment is in
    trial; 400 naming `days` for anything but 1..366."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TRIAL_DAYS:
        raise field_error("days", f"must be a whole number of days from 1 to {MAX_TRIAL_DAYS}")
    deployment = lock_deployment(subscription.deployment_id)
    locked = lock_subscription(subscription.pk)
    if deployment.state != DeploymentState.TRIAL or locked.trial_ends_at is None:
        raise Conflict(
            f"deployment {deployment} is {deployment.state}, not in a trial; only a running "
            "trial can be extended",
            code="not_in_trial",
            fields={"days": ["the subscription is not in a trial"]},
        )
    previous = locked.trial_ends_at
    locked.trial_ends_at = previous + dt.timedelta(days=days)
    locked.save(update_fields=["trial_ends_at", "updated_at"])
    _subscription_event(
        locked,
        SubscriptionEventType.TRIAL_EXTENDED,
        actor,
        {
            "days": days,
            "from": previous.isoformat(),
            "to": locked.trial_ends_at.isoformat(),
        },
    )
    return locked


def trials_notify_ending(
    *, now: dt.datetime, within: dt.timedelta, actor: str = "system"
) -> list[int]:
    """Tell each tenant whose trial ends within `within` of `now` (the `trial.ending` webhook),
    once per trial end: the notice is a subscription event naming the end it announced, so a
    re-run (or a second worker) says nothing again, and an extended trial is announced anew.
    Each in its own transaction; returns the subscription ids told."""
    due = list(
        Subscription.objects.filter(
            deployment__state=DeploymentState.TRIAL,
            trial_ends_at__gt=now,
            trial_ends_at__lte=now + within,
        )
        .order_by("deployment_id")
        .values_list("pk", "deployment_id")
    )
    told = []
    for subscription_id, deployment_id in due:
        with transaction.atomic(durable=True):
            deployment = lock_deployment(deployment_id)
            locked = lock_subscription(subscription_id)
            ends_at = locked.trial_ends_at.isoformat()
            announced = SubscriptionEvent.objects.filter(
                subscription=locked,
                type=SubscriptionEventType.TRIAL_ENDING,
                details__trial_ends_at=ends_at,
            ).exists()
            if deployment.state != DeploymentState.TRIAL or announced:
                continue
            SubscriptionEvent.objects.create(
                subscription=locked,
                type=SubscriptionEventType.TRIAL_ENDING,
                actor=actor,
                details={"trial_ends_at": ends_at},
            )
            webhook_event_emit(
                tenant_id=deployment.tenant_id,
                event_type="trial.ending",
                data={
                    "subscription_id": locked.pk,
                    "deployment_id": deployment.pk,
                    "plan_code": locked.plan_version.plan.code,
                    "trial_ends_at": ends_at,
                },
            )
            told.append(locked.pk)
    return told


def trials_end_due(*, now: dt.datetime, actor: str = "system") -> list[int]:
    """Convert every trial that has ended by `now` to active (deployment event with `actor`,
    subscription event `trial_ended`), each in its own transaction; returns the deployment ids
    converted. Re-checked under the deployment lock, so two workers convert each once."""
    due = list(
        Subscription.objects.filter(deployment__state=DeploymentState.TRIAL, trial_ends_at__lte=now)
        .order_by("deployment_id")
        .values_list("pk", "deployment_id")
    )
    converted = []
    for subscription_id, deployment_id in due:
        with transaction.atomic(durable=True):
            deployment = lock_deployment(deployment_id)
            locked = lock_subscription(subscription_id)
            if deployment.state != DeploymentState.TRIAL or locked.trial_ends_at > now:
                continue  # converted (or extended) meanwhile
            deployment_transition(
                deployment=deployment,
                to_state=DeploymentState.ACTIVE,
                actor=actor,
                reason=f"trial ended {locked.trial_ends_at.isoformat()}",
                by_tenant=False,
            )
            _subscription_event(
                locked,
                SubscriptionEventType.TRIAL_ENDED,
                actor,
                {"trial_ends_at": locked.trial_ends_at.isoformat()},
            )
            converted.append(deployment_id)
    return converted
