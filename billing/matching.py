"""Which inventory resource an invoice line is for. Pure: candidates in, a verdict out.

A line whose JSON invoice item carries DigitalOcean's `resource_uuid` / `resource_id` matches
the resource of its match kind with that provider id, whatever its name. Otherwise a line
matches a resource of its match kind whose name equals the extracted name
(case-insensitively) and whose lifetime overlaps the line's [start, end): resources destroyed
mid-month are tombstoned in inventory but still carry their cost, while one tombstoned before
the line started, or born after it ended, does not. Two candidates are `ambiguous`: the line is
left for an operator, never guessed.

A resource's lifetime starts at DigitalOcean's `created_at` when inventory recorded it
(`attrs.created_at`), else at `first_seen_at`. Relying on `first_seen_at` alone would leave a
month of live resources unmatched whenever inventory first synced after the billed month (a new
installation ingesting last month's invoice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from billing.classify import KIND_OTHER, PLACEHOLDER_KINDS, LineClass
from billing.models import MatchCode, MatchStatus

MAX_LISTED_CANDIDATES = 5

MatchKey = tuple[str, str]  # (inventory kind, lower-cased name)
IdKey = tuple[str, str]  # (inventory kind, provider id)


@dataclass(frozen=True)
class Candidate:
    """An inventory resource that could be the one a line names."""

    id: int
    kind: str
    name: str
    provider_id: str
    lifetime_start: dt.datetime
    deleted_at: dt.datetime | None

    def alive_during(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.lifetime_start < end and (self.deleted_at is None or self.deleted_at >= start)


@dataclass(frozen=True)
class MatchResult:
    status: str
    code: str
    reason: str
    resource_id: int | None = None


def match_key(line: LineClass) -> MatchKey | None:
    """The inventory lookup a line needs, or None when it cannot name a resource."""
    if line.is_tax or line.account_level or line.kind == KIND_OTHER or not line.resource_name:
        return None
    return (line.match_kind, line.resource_name.lower())


def id_keys(line: LineClass, provider_ids: Sequence[str]) -> list[IdKey]:
    """The inventory rows a line names by id (the JSON invoice's `resource_uuid` /
    `resource_id`), or none for a line that cannot be a resource's."""
    if line.is_tax or line.account_level or line.kind == KIND_OTHER:
        return []
    return [(line.match_kind, provider_id) for provider_id in provider_ids if provider_id]


def match_line(
    line: LineClass,
    *,
    product: str,
    description: str,
    start: dt.datetime,
    end: dt.datetime,
    candidates: Mapping[MatchKey, Sequence[Candidate]],
    provider_ids: Sequence[str] = (),
    by_id: Mapping[IdKey, Candidate] | None = None,
) -> MatchResult:
    """Match one classified line against the candidates loaded for its invoice: by provider
    id first (exact: DigitalOcean says which resource it billed, whatever its name or our
    record of its lifetime), else by name and lifetime."""
    for key in id_keys(line, provider_ids):
        resource = (by_id or {}).get(key)
        if resource is not None:
            return _matched(line, resource, start, how=f"by id {key[1]}")
    if line.is_tax:
        return _unmatched(MatchCode.TAX, "tax line: not the cost of a resource")
    if line.account_level:
        return _unmatched(
            MatchCode.ACCOUNT_LEVEL, "account-level line: charged to the account, not a resource"
        )
    if line.kind == KIND_OTHER:
        return _unmatched(
            MatchCode.UNKNOWN_KIND, f"product {product!r} maps to no known resource kind"
        )
    key = match_key(line)
    if key is None:
        return _unmatched(
            MatchCode.NO_NAME,
            f"description {description!r} names no resource (expected `name (detail)`)",
        )
    known = candidates.get(key, ())
    alive = [c for c in known if c.alive_during(start, end)]
    if len(alive) == 1:
        return _matched(line, alive[0], start, how="by name and lifetime")
    if len(alive) > 1:
        return MatchResult(
            MatchStatus.AMBIGUOUS,
            MatchCode.SEVERAL_CANDIDATES,
            f"{len(alive)} {line.match_kind} resources named {line.resource_name!r} existed "
            f"during the line ({_ids(alive)}); not guessed, an operator decides",
        )
    if known:
        return _unmatched(
            MatchCode.NOT_ALIVE,
            f"{line.match_kind} {line.resource_name!r} is in inventory but did not exist between "
            f"{_day(start)} and {_day(end)} ({_lifetimes(known)})",
        )
    return _unmatched(MatchCode.NOT_IN_INVENTORY, _not_in_inventory(line))


def _matched(line: LineClass, resource: Candidate, start: dt.datetime, *, how: str) -> MatchResult:
    """`how` says what tied the line to the resource: `by id <provider id>` or `by name and
    lifetime`; the reason starts with it."""
    via = " (backups are billed to their droplet)" if line.kind != line.match_kind else ""
    if resource.deleted_at is None:
        reason = f"{how}: {line.match_kind} {resource.name!r}, id {resource.id}, live{via}"
        return MatchResult(MatchStatus.MATCHED, MatchCode.LIVE, reason, resource.id)
    reason = (
        f"{how}: {line.match_kind} {resource.name!r}, id {resource.id}, tombstoned "
        f"{_day(resource.deleted_at)}, after the line started {_day(start)}{via}"
    )
    return MatchResult(MatchStatus.MATCHED, MatchCode.TOMBSTONED, reason, resource.id)


def _unmatched(code: str, reason: str) -> MatchResult:
    return MatchResult(MatchStatus.UNMATCHED, code, reason)


def _not_in_inventory(line: LineClass) -> str:
    reason = f"no {line.match_kind} named {line.resource_name!r} in inventory"
    if line.match_kind in PLACEHOLDER_KINDS:
        reason += (
            f" (inventory knows {line.match_kind} resources only from project URNs and names "
            "them by their id, so the invoice's name cannot match)"
        )
    return reason


def _ids(candidates: Sequence[Candidate]) -> str:
    ids = sorted(c.id for c in candidates)
    listed = ", ".join(str(i) for i in ids[:MAX_LISTED_CANDIDATES])
    more = (
        f" and {len(ids) - MAX_LISTED_CANDIDATES} more" if len(ids) > MAX_LISTED_CANDIDATES else ""
    )
    return f"ids {listed}{more}"


def _lifetimes(candidates: Sequence[Candidate]) -> str:
    parts = []
    for c in sorted(candidates, key=lambda c: c.id)[:MAX_LISTED_CANDIDATES]:
        until = f"tombstoned {_day(c.deleted_at)}" if c.deleted_at else "live"
        parts.append(f"id {c.id}: from {_day(c.lifetime_start)}, {until}")
    return "; ".join(parts)


def _day(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
