"""The deployment state machine (SPEC §9): the ONE transition map, and who may take each edge.

Everything that changes `Deployment.state` goes through `deployments.services.
deployment_transition`, which asks this module; nothing else in the code base knows the edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from deployments.models import DeploymentState as S

TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        S.TRIAL: frozenset({S.ACTIVE, S.CANCELLED}),
        S.ACTIVE: frozenset({S.PAST_DUE, S.PAUSED, S.SUSPENDED, S.CANCELLED}),
        S.PAST_DUE: frozenset({S.ACTIVE, S.SUSPENDED, S.CANCELLED}),
        S.PAUSED: frozenset({S.ACTIVE, S.CANCELLED}),
        S.SUSPENDED: frozenset({S.ACTIVE, S.CANCELLED}),
        S.CANCELLED: frozenset({S.ARCHIVED}),
        S.ARCHIVED: frozenset(),
    }
)

# The edges a tenant may take on its own deployment: pause, resume, and cancel while in good
# standing. Anything into or out of suspended / past_due, and archiving, is operator-only — a
# tenant cannot lift a suspension, nor cancel its way out of one.
TENANT_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.ACTIVE, S.PAUSED),
        (S.PAUSED, S.ACTIVE),
        (S.TRIAL, S.CANCELLED),
        (S.ACTIVE, S.CANCELLED),
        (S.PAUSED, S.CANCELLED),
    }
)

# Subscribing with a free trial moves a fresh deployment active → trial (not an edge anyone can
# ask for: only `subscription_create` takes it, when it starts the trial).
TRIAL_ENTRY: tuple[str, str] = (S.ACTIVE, S.TRIAL)

# A new subscription starts active, so only a deployment in good standing can take one.
SUBSCRIBABLE_STATES = frozenset({S.TRIAL, S.ACTIVE})


def allowed_targets(from_state: str) -> list[str]:
    """The states `from_state` may move to, in the map's declaration order (stable output)."""
    targets = TRANSITIONS.get(from_state, frozenset())
    return [state for state in S.values if state in targets]


def is_allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def tenant_may(from_state: str, to_state: str) -> bool:
    return (from_state, to_state) in TENANT_TRANSITIONS


def _check_map_is_consistent() -> None:
    """Every state has a row and every tenant edge is an edge: checked once at import."""
    missing = set(S.values) - set(TRANSITIONS)
    if missing:
        raise RuntimeError(f"transition map has no row for {sorted(missing)}")
    stray = [edge for edge in TENANT_TRANSITIONS if not is_allowed(*edge)]
    if stray:
        raise RuntimeError(f"tenant transitions not in the map: {stray}")


_check_map_is_consistent()
