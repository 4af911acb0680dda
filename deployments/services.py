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

from django.db import IntegrityError, transaction
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import Conflict, Forbidden, InvalidStateChange, field_error
from arcadia_cloud.periods import month_end, month_start
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
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
    SubscriptionEventType,
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
) -> Subscription:
    """Bind a deployment to the plan's ACTIVE version with add-ons snapshotted from the catalog.

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

    locked = lock_deployment(deployment.pk)
    if Subscription.objects.filter(deployment=locked).exists():
        raise _already_subscribed(locked)
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
    )
    try:
        with transaction.atomic():
            subscription.save(force_insert=True)
    except IntegrityError:
        raise _already_subscribed(locked) from None
    attached = _attach_snapshots(subscription, addons)
    _subscription_event(
        subscription,
        SubscriptionEventType.CREATED,
        actor,
        {
            **_version_ref(version),
            "starts_on": starts_on.isoformat(),
            "addons": [_snapshot_ref(snapshot) for snapshot in attached],
        },
    )
    return subscription


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

    The version bound at rollup time prices the whole period. Drafts, retired versions, the
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
) -> AttachOutcome:
    """Tie resources to a deployment that is not archived (409 otherwise).

    Inventory checks the resources and writes the attribution
    (`inventory.services.resources_attach_to_deployment`: a resource attached elsewhere is a
    409 unless `reassign=True`; unknown or tombstoned ids are a 400 naming `resource_ids`).
    """
    ids = clean_resource_ids(resource_ids)
    locked = lock_deployment(deployment.pk)
    if locked.state == DeploymentState.ARCHIVED:
        raise Conflict(f"deployment {locked} is archived; nothing can be attached to it")
    return resources_attach_to_deployment(
        resource_ids=ids, deployment_id=locked.pk, actor=actor, reassign=reassign
    )


@transaction.atomic
def deployment_detach_resources(
    *, deployment: Deployment, resource_ids: Iterable[int], actor: str
) -> list[int]:
    """Untie resources from this deployment (each must be attached to it); returns their ids."""
    ids = clean_resource_ids(resource_ids)
    locked = lock_deployment(deployment.pk)
    return resources_detach_from_deployment(resource_ids=ids, deployment_id=locked.pk, actor=actor)
