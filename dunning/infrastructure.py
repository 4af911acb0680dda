"""The queue of droplet power actions dunning asks for (docs/decisions.md, "Dunning").

Suspension (when the policy says so) queues a `power_off` per live droplet of the deployment,
`pending` until an operator confirms it in the admin (Confirm / Dismiss). Reinstatement
dismisses the power-offs still pending and queues a `power_on` — confirmed at once, restoring
service needs no second opinion — for each droplet a power-off was sent for. A confirmed action
is sent to DigitalOcean (`POST /v2/droplets/{id}/actions`, the provisioning token) and followed
(`GET /v2/actions/{id}`) by `infrastructure_actions_advance` until it completes; a refusal is
recorded (`last_error`) and retried by the sweep up to MAX_ATTEMPTS, then waits for an
operator's Confirm again. Each sent, completed or failed action is a resource event in
inventory. Nothing is ever destroyed: power_off and power_on are the only kinds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from arcadia_cloud.celery import enqueue_on_commit
from deployments.models import Deployment
from dunning.locks import lock_actions_to_advance, lock_infrastructure_action
from dunning.models import ActionKind, ActionStatus, DunningStep, InfrastructureAction
from integrations.digitalocean import DigitalOceanError, client_for
from inventory.models import CloudResource
from inventory.services import resource_event_record_power_action
from inventory.sync import kubernetes_cluster_of

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ADVANCE_BATCH = 50
ADVANCE_TASK = "dunning.advance_infrastructure_actions"
SENT_STATES = (
    ActionStatus.CONFIRMED,
    ActionStatus.IN_PROGRESS,
    ActionStatus.COMPLETED,
    ActionStatus.FAILED,
)


def power_off_requested(*, deployment: Deployment, step: DunningStep) -> list[InfrastructureAction]:
    """One pending power_off per live droplet of the deployment (an operator confirms).

    Kubernetes worker droplets are left alone: their cluster's node pool manages them
    (DigitalOcean replaces a worker that stops answering), so a power-off would not hold and
    would disturb the cluster; suspending a cluster is not an action this queue has."""
    droplets = [
        droplet
        for droplet in CloudResource.objects.filter(
            deployment=deployment, kind="droplet", deleted_at__isnull=True
        ).order_by("pk")
        if not kubernetes_cluster_of(droplet.attrs or {})
    ]
    return [
        InfrastructureAction.objects.create(
            deployment=deployment, resource=droplet, step=step, kind=ActionKind.POWER_OFF
        )
        for droplet in droplets
    ]


def power_on_requested(*, deployment: Deployment, step: DunningStep) -> list[InfrastructureAction]:
    """Undo this deployment's power-offs: pending ones are dismissed, sent ones get a power_on
    (confirmed: it is queued for DigitalOcean at once)."""
    now = timezone.now()
    offs = InfrastructureAction.objects.filter(deployment=deployment, kind=ActionKind.POWER_OFF)
    offs.filter(status=ActionStatus.PENDING).update(
        status=ActionStatus.DISMISSED, decided_by="system (reinstated)", decided_at=now
    )
    sent = sorted({a.resource_id for a in offs.filter(status__in=SENT_STATES)})
    ons = [
        InfrastructureAction.objects.create(
            deployment=deployment,
            resource_id=resource_id,
            step=step,
            kind=ActionKind.POWER_ON,
            status=ActionStatus.CONFIRMED,
            decided_by="system (reinstated)",
            decided_at=now,
        )
        for resource_id in sent
    ]
    if ons:
        enqueue_on_commit(ADVANCE_TASK)
    return ons


@transaction.atomic
def infrastructure_actions_confirm(*, action_ids: Iterable[int], actor: str) -> int:
    """Confirm pending (or failed) actions: they are sent to DigitalOcean after the commit."""
    return _decide(action_ids, actor, ActionStatus.CONFIRMED)


@transaction.atomic
def infrastructure_actions_dismiss(*, action_ids: Iterable[int], actor: str) -> int:
    """Dismiss pending (or failed) actions: nothing is sent."""
    return _decide(action_ids, actor, ActionStatus.DISMISSED)


def _decide(action_ids: Iterable[int], actor: str, status: str) -> int:
    changed = 0
    for action_id in sorted(set(action_ids)):
        action = lock_infrastructure_action(action_id)
        if action.status not in (ActionStatus.PENDING, ActionStatus.FAILED):
            continue
        action.status, action.decided_by, action.decided_at = status, actor, timezone.now()
        if status == ActionStatus.CONFIRMED:
            action.attempts = 0  # an operator's confirm starts a fresh round of retries
        action.save(update_fields=["status", "decided_by", "decided_at", "attempts", "updated_at"])
        changed += 1
    if changed and status == ActionStatus.CONFIRMED:
        enqueue_on_commit(ADVANCE_TASK)
    return changed


@transaction.atomic(durable=True)
def infrastructure_actions_advance() -> dict[str, int]:
    """Send confirmed actions, follow the in-progress ones, retry the failed ones (the sweep)."""
    counts = {"sent": 0, "completed": 0, "failed": 0, "waiting": 0}
    actions = [
        a
        for a in lock_actions_to_advance(ADVANCE_BATCH)
        if a.status != ActionStatus.FAILED or a.attempts < MAX_ATTEMPTS
    ]
    if not actions:
        return counts
    client = client_for("provisioning")
    for action in actions:
        if client is None:
            action.attempts += 1
            _failed(action, "no DigitalOcean provisioning token is configured")
            counts["failed"] += 1
            continue
        try:
            if action.status == ActionStatus.IN_PROGRESS:
                counts[_follow(client, action)] += 1
            else:
                _send(client, action)
                counts["sent"] += 1
        except DigitalOceanError as exc:
            _failed(action, str(exc))
            counts["failed"] += 1
    return counts


def _send(client, action: InfrastructureAction) -> None:
    action.attempts += 1  # counted before the call: a refusal is an attempt too
    answer = client.droplet_action(action.resource.provider_id, action.kind)
    action.provider_action_id = str(answer.get("id", ""))
    action.status = ActionStatus.IN_PROGRESS
    action.last_error = ""
    action.save(
        update_fields=["attempts", "provider_action_id", "status", "last_error", "updated_at"]
    )
    _resource_event(action, "sent", {"provider_action_id": action.provider_action_id})


def _follow(client, action: InfrastructureAction) -> str:
    answer = client.get_action(action.provider_action_id)
    status = answer.get("status")
    if status == "completed":
        action.status, action.completed_at = ActionStatus.COMPLETED, timezone.now()
        action.save(update_fields=["status", "completed_at", "updated_at"])
        _resource_event(action, "completed", {"provider_action_id": action.provider_action_id})
        return "completed"
    if status == "errored":
        _failed(action, f"DigitalOcean action {action.provider_action_id} errored")
        return "failed"
    return "waiting"


def _failed(action: InfrastructureAction, message: str) -> None:
    action.status, action.last_error = ActionStatus.FAILED, message[:2000]
    action.provider_action_id = ""
    action.save(
        update_fields=["status", "last_error", "attempts", "provider_action_id", "updated_at"]
    )
    logger.warning("infrastructure action %s (%s) failed: %s", action.pk, action.kind, message)
    _resource_event(action, "failed", {"error": action.last_error})


def _resource_event(action: InfrastructureAction, status: str, details: dict) -> None:
    resource_event_record_power_action(
        resource_id=action.resource_id,
        action=action.kind,
        status=status,
        details={"infrastructure_action": action.pk, "deployment": action.deployment_id, **details},
        actor="system (dunning)",
    )
