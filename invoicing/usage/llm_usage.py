"""LLM usage (SPEC §12): the gateway's priced events, each recorded exactly once.

The gateway is the pricing authority: its charge is stored exactly (8 places) and trusted. What
happens next depends on the deployment's `llm_mode` when the event arrives, recorded on the
event as `billed_as`:

- `passthrough` — nothing more here; the rollup sums the exact charges per deployment
  (`invoicing.usage.selectors.llm_charges_for_deployments`) and rounds once;
- `plan` — the tokens (input + output) are metered as `llm_tokens` usage: one usage row per
  (deployment, UTC day or hour) without a resource, source `llm_gateway`;
- `none` — the event is refused (422).

An event dated more than LATE_USAGE_HORIZON_DAYS ago is refused (422 naming `occurred_at`): no
invoice would bill it any more. One dated inside a month already invoiced is accepted and billed
on the tenant's next invoice (`invoicing.invoices.late_usage`).

A batch is all-or-nothing. Duplicate deliveries are the normal case for a gateway that retries:
a gateway_request_id seen before with the same payload is acknowledged as a duplicate, whatever
the deployment's state now; with another payload it is a 409.

Concurrency: the unique index on gateway_request_id decides. New events are inserted with
`ON CONFLICT DO NOTHING RETURNING`, so exactly one of two racing requests creates a row and the
other compares payload hashes after the fact — no check-then-insert. Token usage is added with
an upsert that increments (`qty = qty + EXCLUDED.qty`) by the tokens of the events THIS request
created: PostgreSQL re-reads the latest row version before updating, so racing requests never
lose each other's tokens, and an event counts once because only its creator adds it. Rows are
written in sorted key order (events by id, usage by deployment and period) so two batches
cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from django.db import DataError, connection, transaction
from django.db.models import BooleanField, Model
from django.db.models.expressions import RawSQL
from django.utils import timezone

from arcadia_cloud.errors import Conflict, InvalidStateChange, ValidationFailed
from arcadia_cloud.money import CHARGE_PLACES
from arcadia_cloud.periods import day_bounds
from deployments.models import LLMMode
from invoicing.invoices.late_usage import horizon
from invoicing.models import Granularity, LLMBillingMode, LLMUsageEvent, UsageRecord, UsageSource
from invoicing.usage.selectors import LLMUsageTarget, llm_usage_targets, metering_settings

MAX_BATCH_SIZE = 1000
LLM_TOKENS = "llm_tokens"

# Field names, in the order of the rows `_insert_events` builds.
_EVENT_FIELDS = (
    "gateway_request_id",
    "deployment",
    "tenant_id",
    "model",
    "input_tokens",
    "output_tokens",
    "charge",
    "currency",
    "occurred_at",
    "billed_as",
    "payload_hash",
)
_TOKEN_FIELDS = (
    "deployment",
    "resource_kind",
    "period_start",
    "granularity",
    "qty",
    "qty_numerator",
    "qty_denominator",
    "source",
)
_NEW_EVENTS_ONLY = "ON CONFLICT (gateway_request_id) DO NOTHING RETURNING gateway_request_id"
_ADD_TO_USAGE = (
    "ON CONFLICT (deployment_id, resource_kind, period_start, granularity, source) "
    "WHERE resource_id IS NULL DO UPDATE SET "
    "qty = usage_records.qty + excluded.qty, "
    "qty_numerator = usage_records.qty_numerator + excluded.qty_numerator"
)


@dataclass(frozen=True)
class LLMUsageEventInput:
    """One event as the gateway reported it, already parsed into exact types.

    `ref` is how errors name the event's fields: "events[3]" in a batch ("events[3].charge"),
    "" for a single event ("charge").
    """

    ref: str
    gateway_request_id: str
    deployment_id: int
    tenant_id: str
    model: str
    input_tokens: int
    output_tokens: int
    charge: Decimal
    currency: str
    occurred_at: dt.datetime

    def __post_init__(self) -> None:
        exact = self.charge.quantize(CHARGE_PLACES)
        if exact != self.charge or self.charge < 0:
            raise fields_invalid(
                {self.field("charge"): ["must be >= 0 with at most 8 decimal places"]}
            )
        object.__setattr__(self, "charge", exact)
        if self.occurred_at.tzinfo is None:
            raise fields_invalid({self.field("occurred_at"): ["must carry a time zone"]})

    def field(self, name: str) -> str:
        return f"{self.ref}.{name}" if self.ref else name

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @cached_property
    def payload_hash(self) -> str:
        """sha256 of the reported facts, canonical: 0.5 and "0.50000000" hash alike."""
        canonical = [
            self.deployment_id,
            self.tenant_id,
            self.model,
            self.input_tokens,
            self.output_tokens,
            format(self.charge, "f"),
            self.currency,
            self.occurred_at.astimezone(dt.UTC).isoformat(),
        ]
        return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


class EventStatus(enum.StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class LLMUsageOutcome:
    """Per event, in request order: created, or a duplicate of an event already recorded."""

    statuses: tuple[tuple[str, EventStatus], ...]

    @property
    def accepted(self) -> int:
        return sum(status is EventStatus.CREATED for _, status in self.statuses)

    @property
    def duplicates(self) -> int:
        return len(self.statuses) - self.accepted

    @property
    def events(self) -> list[dict[str, str]]:
        return [{"gateway_request_id": gid, "status": status} for gid, status in self.statuses]


@dataclass
class _Problems:
    """Everything wrong with a batch, collected so one answer names every bad field."""

    invalid: dict[str, list[str]] = field(default_factory=dict)  # 400
    refused: dict[str, list[str]] = field(default_factory=dict)  # 422
    conflicting: dict[str, list[str]] = field(default_factory=dict)  # 409

    def raise_first(self) -> None:
        """400 before 422 before 409: fix the input, then the deployment, then the ids."""
        if self.invalid:
            raise fields_invalid(self.invalid)
        if self.refused:
            raise InvalidStateChange(summarise(self.refused), fields=self.refused)
        if self.conflicting:
            raise Conflict(summarise(self.conflicting), fields=self.conflicting)


def summarise(fields: dict[str, list[str]]) -> str:
    """The first few field errors as one sentence, for the error envelope's message."""
    parts = [f"{name}: {messages[0]}" for name, messages in list(fields.items())[:3]]
    if len(fields) > 3:
        parts.append(f"and {len(fields) - 3} more")
    return "; ".join(parts)


def fields_invalid(fields: dict[str, list[str]]) -> ValidationFailed:
    """A 400 naming every bad field."""
    return ValidationFailed(summarise(fields), fields=fields)


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def llm_usage_events_record(
    *, events: Sequence[LLMUsageEventInput], now: dt.datetime | None = None
) -> LLMUsageOutcome:
    """Record a batch of gateway events (1 to MAX_BATCH_SIZE), all or nothing.

    Raises ValidationFailed (400: unknown deployment, another tenant's deployment, a second
    currency for a deployment), InvalidStateChange (422: a deployment with llm_mode none, an
    event older than the late-usage horizon before `now`, default the clock) or Conflict (409:
    a gateway_request_id already recorded with a different payload), each naming every
    offending field. A bounded number of queries whatever the batch size.
    """
    if not 1 <= len(events) <= MAX_BATCH_SIZE:
        raise fields_invalid(
            {"events": [f"must hold 1 to {MAX_BATCH_SIZE} events, got {len(events)}"]}
        )
    problems = _Problems()
    first = _first_occurrences(events, problems)
    recorded = _recorded_hashes(first)
    for event in first.values():
        _compare_with_recorded(event, recorded, problems)
    new = [event for gid, event in first.items() if gid not in recorded]
    targets = _check_targets(new, problems)
    _refuse_beyond_horizon(new, problems, now or timezone.now())
    problems.raise_first()

    created = _insert_events(new, targets)
    raced = [event for event in new if event.gateway_request_id not in created]
    if raced:
        # Another request inserted these ids between our read and our insert: judge them now.
        recorded = _recorded_hashes(event.gateway_request_id for event in raced)
        for event in raced:
            _compare_with_recorded(event, recorded, problems)
        problems.raise_first()
    _meter_plan_tokens(
        [
            event
            for event in new
            if event.gateway_request_id in created
            and targets[event.deployment_id].llm_mode == LLMMode.PLAN
        ]
    )
    return _outcome(events, first, created)


def _outcome(
    events: Sequence[LLMUsageEventInput],
    first: dict[str, LLMUsageEventInput],
    created: set[str],
) -> LLMUsageOutcome:
    """Created: the one occurrence whose row this request inserted; any other is a duplicate."""

    def status(event: LLMUsageEventInput) -> EventStatus:
        inserted_here = event.gateway_request_id in created
        if inserted_here and first[event.gateway_request_id] is event:
            return EventStatus.CREATED
        return EventStatus.DUPLICATE

    return LLMUsageOutcome(tuple((event.gateway_request_id, status(event)) for event in events))


def _first_occurrences(
    events: Sequence[LLMUsageEventInput], problems: _Problems
) -> dict[str, LLMUsageEventInput]:
    """Each gateway_request_id once; a repeat inside the batch is a duplicate, or a conflict
    when its payload differs from the first occurrence."""
    first: dict[str, LLMUsageEventInput] = {}
    for event in events:
        earlier = first.setdefault(event.gateway_request_id, event)
        if earlier is not event and earlier.payload_hash != event.payload_hash:
            problems.conflicting[event.field("gateway_request_id")] = [
                f"{event.gateway_request_id!r} appears earlier in this batch with a different "
                "payload"
            ]
    return first


def _recorded_hashes(gateway_request_ids: Iterable[str]) -> dict[str, str]:
    ids = list(gateway_request_ids)
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        # One array parameter: as an IN list, a batch's 1000 ids cost Django and psycopg a
        # parameter each (four times the time of the whole lookup).
        table = LLMUsageEvent._meta.db_table
        wanted = RawSQL(  # noqa: S611 (the ids are a bound parameter)
            f"{table}.gateway_request_id = ANY(%s)", (ids,), output_field=BooleanField()
        )
        events = LLMUsageEvent.objects.filter(wanted)
    else:
        events = LLMUsageEvent.objects.filter(gateway_request_id__in=ids)
    return dict(events.values_list("gateway_request_id", "payload_hash"))


def _compare_with_recorded(
    event: LLMUsageEventInput, recorded: dict[str, str], problems: _Problems
) -> None:
    known_hash = recorded.get(event.gateway_request_id)
    if known_hash is not None and known_hash != event.payload_hash:
        problems.conflicting[event.field("gateway_request_id")] = [
            f"{event.gateway_request_id!r} was already recorded with a different payload; "
            "a gateway_request_id names one request forever"
        ]


def _check_targets(
    events: list[LLMUsageEventInput], problems: _Problems
) -> dict[int, LLMUsageTarget]:
    """The deployments the new events name, checked: they exist, belong to the event's tenant,
    accept LLM usage, and keep one currency. Another tenant's deployment reads exactly like a
    missing one, so nothing leaks about who owns what."""
    targets = llm_usage_targets(event.deployment_id for event in events)
    currencies = {pk: target.currency for pk, target in targets.items() if target.currency}
    for event in events:
        target = targets.get(event.deployment_id)
        if target is None or target.tenant_id != event.tenant_id:
            problems.invalid[event.field("deployment_id")] = [
                f"no deployment {event.deployment_id} belongs to tenant {event.tenant_id!r}"
            ]
            continue
        if target.llm_mode == LLMMode.NONE:
            problems.refused[event.field("deployment_id")] = [
                f"deployment {event.deployment_id} has llm_mode none: it does not accept LLM "
                "usage (switch it to plan or passthrough first)"
            ]
            continue
        currency = currencies.setdefault(event.deployment_id, event.currency)
        if event.currency != currency:
            problems.invalid[event.field("currency")] = [
                f"deployment {event.deployment_id}'s LLM charges are in {currency}; one "
                f"deployment's charges are never mixed with {event.currency}"
            ]
    return targets


def _refuse_beyond_horizon(
    events: list[LLMUsageEventInput], problems: _Problems, now: dt.datetime
) -> None:
    """New events dated before the late-usage horizon are refused: they could reach no invoice
    (a month that old is invoiced and beyond late billing), so accepting them would lose them
    silently. Duplicates of events recorded earlier are still acknowledged."""
    oldest = now - horizon()
    for event in events:
        if event.occurred_at < oldest:
            problems.refused[event.field("occurred_at")] = [
                f"{event.occurred_at.isoformat()} is more than {horizon().days} days ago (before "
                f"{oldest.isoformat()}); usage that old can no longer be invoiced "
                "(LATE_USAGE_HORIZON_DAYS)"
            ]


def _insert_events(
    events: list[LLMUsageEventInput], targets: dict[int, LLMUsageTarget]
) -> set[str]:
    """Insert the events in one statement; returns the ids THIS statement created."""
    if not events:
        return set()
    rows = [
        (
            event.gateway_request_id,
            event.deployment_id,
            event.tenant_id,
            event.model,
            event.input_tokens,
            event.output_tokens,
            event.charge,
            event.currency,
            event.occurred_at,
            LLMBillingMode(targets[event.deployment_id].llm_mode),
            event.payload_hash,
        )
        for event in sorted(events, key=lambda event: event.gateway_request_id)
    ]
    returned = _insert_rows(LLMUsageEvent, _EVENT_FIELDS, rows, _NEW_EVENTS_ONLY)
    return {gateway_request_id for (gateway_request_id,) in returned}


def _meter_plan_tokens(events: list[LLMUsageEventInput]) -> None:
    """Add the events' tokens to their deployment's llm_tokens usage rows, in one upsert."""
    if not events:
        return
    granularity = metering_settings()[LLM_TOKENS].granularity
    tokens: dict[tuple[int, dt.datetime], int] = defaultdict(int)
    for event in events:
        tokens[event.deployment_id, _period_start(event.occurred_at, granularity)] += event.tokens
    rows = [
        (
            deployment_id,
            LLM_TOKENS,
            period_start,
            granularity,
            Decimal(qty),
            Decimal(qty),
            1,
            UsageSource.LLM_GATEWAY,
        )
        for (deployment_id, period_start), qty in sorted(tokens.items())
    ]
    try:
        _insert_rows(UsageRecord, _TOKEN_FIELDS, rows, _ADD_TO_USAGE)
    except DataError as exc:
        raise InvalidStateChange(
            "the llm_tokens usage of a deployment would exceed the largest quantity a usage "
            "record holds; split the usage or check the token counts",
            code="usage_overflow",
        ) from exc


def _insert_rows(
    model: type[Model], field_names: tuple[str, ...], rows: list[tuple], on_conflict: str
) -> list[tuple]:
    """One INSERT of many rows, followed by `on_conflict` (and any RETURNING it carries).

    On PostgreSQL the rows travel as ONE parameter, a JSON array of rows whose elements are
    cast to the columns' types: one value per parameter would be parsed one by one on the
    client, and one array per column is quoted element by element in Python (twice the time
    of json.dumps for a batch of 1000; docs/performance.md).
    Decimals and datetimes travel as their exact text and are read by the column type's
    input function, so nothing is rounded or shifted. Elsewhere (SQLite) they are a VALUES
    list of values prepared by their fields. Rows are inserted in the order given, which is
    the lock order callers choose.
    """
    # Identifiers come from model metadata and this module's constants, never from input.
    fields = [model._meta.get_field(name) for name in field_names]
    insert = f"INSERT INTO {model._meta.db_table} ({', '.join(f.column for f in fields)})"
    if connection.vendor == "postgresql":
        # Base types (varchar, not varchar(200)): an explicit cast would truncate silently.
        types = [field.db_type(connection).split("(")[0] for field in fields]
        values = ", ".join(f"(row ->> {index})::{kind}" for index, kind in enumerate(types))
        rows_of = "jsonb_array_elements(%s::jsonb) AS row"
        sql = f"{insert} SELECT {values} FROM {rows_of} {on_conflict}"  # noqa: S608
        params: list[object] = [json.dumps([[_json_value(v) for v in row] for row in rows])]
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"{insert} VALUES {', '.join([row] * len(rows))} {on_conflict}"
        params = [
            field.get_db_prep_save(value, connection)
            for values in rows
            for field, value in zip(fields, values, strict=True)
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _json_value(value: object) -> object:
    """A row value as JSON: exact text for Decimal and datetime, the value otherwise (str, int,
    and str enums, which json writes as their value)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _period_start(occurred_at: dt.datetime, granularity: str) -> dt.datetime:
    moment = occurred_at.astimezone(dt.UTC)
    if granularity == Granularity.HOURLY:
        return moment.replace(minute=0, second=0, microsecond=0)
    return day_bounds(moment.date())[0]
