"""Billing reads: cost lines of a period, the latest balance, match reports, match candidates.

Every function issues a bounded number of queries whatever the row count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from arcadia_cloud.errors import NotFound
from billing.matching import Candidate, IdKey, MatchKey
from billing.models import CloudBalanceSnapshot, CloudCostLine, CloudInvoice, MatchCode, MatchStatus
from inventory.models import PROVIDER_DIGITALOCEAN, CloudResource

# Names per candidate query where every name is a parameter (not PostgreSQL): keeps statements
# a sane size on very large invoices.
CANDIDATE_CHUNK = 5000
REPORT_EXAMPLES = 5


def cost_lines_for_period(
    period: dt.date,
    *,
    kind: str | None = None,
    match_status: str | None = None,
    limit: int | None = None,
) -> QuerySet[CloudCostLine]:
    """Per-line COGS of every DigitalOcean invoice of `period` (a month's first day), in
    invoice then line order, with the invoice and the matched resource joined in."""
    lines = (
        CloudCostLine.objects.filter(invoice__period=period)
        .select_related("invoice", "resource", "resource__deployment")
        .order_by("invoice_id", "line_number")
    )
    if kind:
        lines = lines.filter(kind=kind)
    if match_status:
        lines = lines.filter(match_status=match_status)
    return lines[:limit] if limit is not None else lines


def latest_balance() -> CloudBalanceSnapshot | None:
    return CloudBalanceSnapshot.objects.order_by("-fetched_at", "-id").first()


def invoice_list(*, period: dt.date | None = None) -> QuerySet[CloudInvoice]:
    invoices = CloudInvoice.objects.order_by("-period", "-id")
    return invoices.filter(period=period) if period else invoices


def invoice_get(*, invoice_uuid: str) -> CloudInvoice:
    invoice = CloudInvoice.objects.filter(invoice_uuid=invoice_uuid).first()
    if invoice is None:
        raise NotFound(f"No DigitalOcean invoice {invoice_uuid!r} has been synced.")
    return invoice


def invoices_pending_ingest() -> QuerySet[CloudInvoice]:
    return CloudInvoice.objects.filter(lines_ingested_at__isnull=True).order_by("period", "id")


@dataclass(frozen=True)
class ReasonGroup:
    status: str
    code: str
    label: str
    count: int
    amount: Decimal
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MatchReport:
    invoice_uuid: str
    line_count: int
    matched: int
    unmatched: int
    ambiguous: int
    groups: list[ReasonGroup]


def invoice_match_report(invoice: CloudInvoice) -> MatchReport:
    """Counts per status and the lines grouped by why they (did not) match, with examples of
    the unmatched and ambiguous ones (one query, plus one per such group)."""
    rows = (
        CloudCostLine.objects.filter(invoice=invoice)
        .values("match_status", "match_code")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("match_status", "match_code")
    )
    labels = dict(MatchCode.choices)
    groups = []
    for row in rows:
        examples: list[str] = []
        if row["match_status"] != MatchStatus.MATCHED:
            examples = list(
                CloudCostLine.objects.filter(
                    invoice=invoice, match_status=row["match_status"], match_code=row["match_code"]
                )
                .order_by("line_number")
                .values_list("match_reason", flat=True)[:REPORT_EXAMPLES]
            )
        groups.append(
            ReasonGroup(
                status=row["match_status"],
                code=row["match_code"],
                label=labels.get(row["match_code"], row["match_code"]),
                count=row["count"],
                amount=row["amount"] or Decimal(0),
                examples=examples,
            )
        )
    counts: dict[str, int] = defaultdict(int)
    for group in groups:
        counts[group.status] += group.count
    return MatchReport(
        invoice_uuid=invoice.invoice_uuid,
        line_count=sum(counts.values()),
        matched=counts[MatchStatus.MATCHED],
        unmatched=counts[MatchStatus.UNMATCHED],
        ambiguous=counts[MatchStatus.AMBIGUOUS],
        groups=groups,
    )


def match_candidates(keys: Iterable[MatchKey]) -> dict[MatchKey, list[Candidate]]:
    """Every inventory resource, live or tombstoned, whose (kind, lower(name)) is in `keys`.

    On PostgreSQL one query whatever the number of names (they travel as two array
    parameters): index lookups on (kind, lower(name)) for a small invoice, one hash join for
    an invoice naming most of inventory. Elsewhere one query per CANDIDATE_CHUNK names.
    Lifetimes are filtered by the caller, per line.
    """
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, name in keys:
        by_kind[kind].add(name)
    pairs = [(kind, name) for kind, names in by_kind.items() for name in sorted(names)]
    found: dict[MatchKey, list[Candidate]] = defaultdict(list)
    chunk = max(len(pairs), 1) if connection.vendor == "postgresql" else CANDIDATE_CHUNK
    for start in range(0, len(pairs), chunk):
        for candidate in _candidates_query(pairs[start : start + chunk]):
            found[(candidate.kind, candidate.name.lower())].append(candidate)
    return dict(found)


def id_candidates(keys: Iterable[IdKey]) -> dict[IdKey, Candidate]:
    """Every inventory resource, live or tombstoned, whose (kind, provider_id) is in `keys`:
    the resources an invoice's JSON items name by id. One query per CANDIDATE_CHUNK ids."""
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, provider_id in keys:
        by_kind[kind].add(provider_id)
    found: dict[IdKey, Candidate] = {}
    for kind, provider_ids in by_kind.items():
        ordered = sorted(provider_ids)
        for start in range(0, len(ordered), CANDIDATE_CHUNK):
            rows = CloudResource.objects.filter(
                provider=PROVIDER_DIGITALOCEAN,
                kind=kind,
                provider_id__in=ordered[start : start + CANDIDATE_CHUNK],
            )
            for candidate in _candidates(rows):
                found[(candidate.kind, candidate.provider_id)] = candidate
    return found


def _wanted_pairs(pairs: list[MatchKey]) -> Q | RawSQL:
    """The condition `(kind, lower(name))` is one of `pairs`.

    On PostgreSQL the pairs travel as two array parameters joined by `unnest`: a query of 5,000
    names otherwise carries 5,000 parameters, which Django and psycopg prepare one by one (most
    of the time of matching a large invoice; docs/performance.md). Elsewhere it is one
    `kind = … AND lower(name) IN (…)` per kind.
    """
    if connection.vendor == "postgresql":
        table = CloudResource._meta.db_table
        # Identifiers come from the model; the names are bound parameters.
        return RawSQL(  # noqa: S611
            f"({table}.kind, lower({table}.name)) IN "  # noqa: S608
            "(SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([kind for kind, _ in pairs], [name for _, name in pairs]),
            output_field=BooleanField(),
        )
    names_by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, name in pairs:
        names_by_kind[kind].append(name)
    wanted = Q()
    for kind, names in names_by_kind.items():
        wanted |= Q(kind=kind, lower_name__in=names)
    return wanted


def _candidates_query(pairs: list[MatchKey]) -> list[Candidate]:
    rows = (
        CloudResource.objects.filter(provider=PROVIDER_DIGITALOCEAN)
        .annotate(lower_name=Lower("name"))
        .filter(_wanted_pairs(pairs))
    )
    return _candidates(rows)


def _candidates(rows: QuerySet[CloudResource]) -> list[Candidate]:
    rows = (
        rows.annotate(provider_created_at=KT("attrs__created_at"))
        .order_by()
        .values_list(
            "id",
            "kind",
            "name",
            "provider_id",
            "first_seen_at",
            "deleted_at",
            "provider_created_at",
        )
    )
    return [
        Candidate(
            id=pk,
            kind=kind,
            name=name,
            provider_id=provider_id,
            lifetime_start=_lifetime_start(first_seen_at, created_at),
            deleted_at=deleted_at,
        )
        for pk, kind, name, provider_id, first_seen_at, deleted_at, created_at in rows
    ]


def _lifetime_start(first_seen_at: dt.datetime, provider_created_at: str | None) -> dt.datetime:
    try:
        created = parse_datetime(provider_created_at) if provider_created_at else None
    except ValueError:  # well-formed but impossible (e.g. month 13): ignore it
        created = None
    if created is None or created.tzinfo is None:
        return first_seen_at
    return min(first_seen_at, created)
