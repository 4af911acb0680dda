"""Locks of the dunning domain, taken here and nowhere else.

Lock order (docs/CONVENTIONS.md): dunning invoice advisory lock → deployment row → subscription
row (both through deployments' services) → infrastructure action rows. The invoice row itself is
only read: payment commits first and queues the settlement, which then waits here.
"""

from __future__ import annotations

from arcadia_cloud.locks import advisory_xact_lock
from dunning.models import InfrastructureAction


def lock_invoice_dunning(invoice_id: int) -> None:
    """Serialize every dunning run and settlement of one invoice until the transaction ends:
    two workers on the same day queue here, and the second finds the first's steps."""
    advisory_xact_lock(f"dunning:invoice:{invoice_id}")


def lock_infrastructure_action(action_id: int) -> InfrastructureAction:
    return InfrastructureAction.objects.select_for_update().get(pk=action_id)


def lock_actions_to_advance(limit: int) -> list[InfrastructureAction]:
    """Confirmed, failed or in-progress actions nobody else is working on (SKIP LOCKED)."""
    return list(
        InfrastructureAction.objects.select_for_update(skip_locked=True)
        .filter(status__in=["confirmed", "in_progress", "failed"])
        .order_by("id")[:limit]
    )
