"""Billing reads: cost lines of a period, the latest balance, match reports, match candidates.

Every function issues a bounded number of queries whatever the row count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from arcadia_cloud.errors import NotFound
from arcadia_cloud.money import CENTS_PER_UNIT, round_cents
from arcadia_cloud.periods import days_in_month, month_end
from billing.classify import LineClass, classify_line
from billing.matching import (
    Candidate,
    IdKey,
    MatchKey,
    MatchResult,
    id_keys,
    match_key,
    match_line,
)
from billing.models import (
    CloudBalanceSnapshot,
    CloudCostDay,
    CloudCostLine,
    CloudDailyCost,
    CloudInvoice,
    MatchCode,
    MatchStatus,
)
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


# ---------------------------------------------------------------------------------------------
# Daily COGS (billing insights) and which source a month's COGS comes from
# ---------------------------------------------------------------------------------------------

COGS_SOURCE_INVOICE = "invoice"
COGS_SOURCE_DAILY = "daily"
COGS_SOURCE_NONE = "none"


def daily_costs_for_period(period: dt.date) -> QuerySet[CloudDailyCost]:
    """The month's daily-cost rows (billing insights), in day then DigitalOcean order, with the
    matched resource joined in."""
    return (
        CloudDailyCost.objects.filter(day__gte=period, day__lte=month_end(period))
        .select_related("resource", "resource__deployment")
        .order_by("day", "position")
    )


@dataclass(frozen=True)
class CogsSource:
    """Where a month's COGS comes from: DigitalOcean's ingested invoice (the truth) when there
    is one, else the daily costs ingested so far (the month so far), else nothing yet.

    `rows` are `CloudCostLine` or `CloudDailyCost` rows, tax lines included (callers filter
    `is_tax=False`): both carry `amount`, `kind`, `is_tax` and `resource`, so one COGS query
    reads either. `through` is the last day the daily costs cover (None for an invoice)."""

    source: str
    rows: QuerySet
    days: int
    through: dt.date | None
    reason: str

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "days": self.days,
            "through": self.through,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Coverage:
    invoices: int
    days: int
    through: dt.date | None


# The coverage query as SQL (portable: PostgreSQL and SQLite). Built through the ORM — a UNION
# of two aggregates with an EXISTS — it took several times its run time to compile, on every
# dashboard read (issue 22).
_COVERAGE_SQL = f"""
SELECT COUNT(*), NULL FROM {CloudInvoice._meta.db_table} i
 WHERE i.period = %s
   AND (i.lines_ingested_at IS NOT NULL
        OR EXISTS (SELECT 1 FROM {CloudCostLine._meta.db_table} l WHERE l.invoice_id = i.id))
UNION ALL
SELECT COUNT(*), MAX(d.day) FROM {CloudCostDay._meta.db_table} d
 WHERE d.day >= %s AND d.day <= %s AND d.ingested_at IS NOT NULL
"""  # noqa: S608 (table names from the models; every value is a parameter)


def _coverage(period: dt.date) -> _Coverage:
    """The month's ingested DigitalOcean invoices — one counts once its lines are in: ingested
    (even with no line), or holding lines — and ingested days of daily costs: ONE query."""
    first, last = (connection.ops.adapt_datefield_value(day) for day in (period, month_end(period)))
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE_SQL, [first, first, last])
        (invoices, _), (days, through) = cursor.fetchall()
    if isinstance(through, str):  # SQLite hands a date back as its text
        through = dt.date.fromisoformat(through)
    return _Coverage(invoices, days, through)


def cogs_source_for_period(period: dt.date) -> CogsSource:
    """The month's COGS source, in one query (see CogsSource); its rows are a lazy queryset."""
    coverage = _coverage(period)
    if coverage.invoices:
        return CogsSource(
            COGS_SOURCE_INVOICE,
            cost_lines_for_period(period),
            days_in_month(period),
            None,
            f"DigitalOcean's invoice for {period:%Y-%m}",
        )
    if not coverage.days:
        return CogsSource(
            COGS_SOURCE_NONE,
            CloudDailyCost.objects.none(),
            0,
            None,
            f"no DigitalOcean invoice for {period:%Y-%m} and no daily costs ingested for it",
        )
    return CogsSource(
        COGS_SOURCE_DAILY,
        daily_costs_for_period(period),
        coverage.days,
        coverage.through,
        f"no DigitalOcean invoice for {period:%Y-%m} yet: the daily costs of "
        f"{coverage.days} day(s), through {coverage.through} (estimates; the invoice "
        "replaces them once it is ingested)",
    )


def daily_cost_reconciliation(period: dt.date) -> dict:
    """Per DigitalOcean kind, the month's daily costs summed against its invoice, ex tax, in USD
    cents (each exact sum rounded half-up once) and the difference daily - invoice; 2 grouped
    queries plus one for the coverage. `status`: `reconciled` (an invoice and daily costs),
    `no_invoice` or `no_daily_costs` (the side that is missing, its figures None)."""
    daily = dict(
        daily_costs_for_period(period)
        .filter(is_tax=False)
        .order_by()
        .values_list("kind")
        .annotate(usd=Sum("amount"))
    )
    coverage = _coverage(period)
    has_invoice, days = bool(coverage.invoices), coverage.days
    invoiced = dict(
        cost_lines_for_period(period)
        .filter(is_tax=False)
        .order_by()
        .values_list("kind")
        .annotate(usd=Sum("amount"))
    )

    def cents(sums: dict, kind: str, present: bool) -> int | None:
        return _usd_cents(sums.get(kind, Decimal(0))) if present else None

    kinds = []
    for kind in sorted(set(daily) | set(invoiced)):
        daily_cents = cents(daily, kind, bool(days))
        invoice_cents = cents(invoiced, kind, has_invoice)
        kinds.append(
            {
                "kind": kind,
                "daily_usd_cents": daily_cents,
                "invoice_usd_cents": invoice_cents,
                "difference_usd_cents": (
                    None
                    if daily_cents is None or invoice_cents is None
                    else daily_cents - invoice_cents
                ),
            }
        )
    total_daily = _usd_cents(sum(daily.values(), Decimal(0))) if days else None
    total_invoice = _usd_cents(sum(invoiced.values(), Decimal(0))) if has_invoice else None
    status = "reconciled" if days and has_invoice else ("no_invoice" if days else "no_daily_costs")
    return {
        "period": period,
        "status": status,
        "days_covered": days,
        "days_in_month": days_in_month(period),
        "kinds": kinds,
        "total": {
            "daily_usd_cents": total_daily,
            "invoice_usd_cents": total_invoice,
            "difference_usd_cents": (
                None
                if total_daily is None or total_invoice is None
                else total_daily - total_invoice
            ),
        },
    }


def _usd_cents(amount: Decimal) -> int:
    return round_cents(Decimal(amount) * CENTS_PER_UNIT)


def cost_days(*, start: dt.date, end: dt.date) -> QuerySet[CloudCostDay]:
    return CloudCostDay.objects.filter(day__gte=start, day__lte=end).order_by("day")


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


@dataclass(frozen=True)
class LineToMatch:
    """What the matcher needs of a charge: an invoice line, or a billing-insights data point
    (its day as [start, end), its SKU's product, no provider ids)."""

    product: str
    description: str
    group_description: str
    start: dt.datetime
    end: dt.datetime
    provider_ids: tuple[str, ...] = ()


def lines_classify_and_match(
    lines: Sequence[LineToMatch],
) -> list[tuple[LineClass, MatchResult]]:
    """Classify each charge and match it to an inventory resource (billing.matching), the
    candidates of all of them loaded at once: a few queries, not one per line. The one path
    invoice lines and daily costs are matched by."""
    classes = [
        classify_line(line.product, line.description, line.group_description) for line in lines
    ]
    candidates = match_candidates({key for key in map(match_key, classes) if key is not None})
    by_id = id_candidates(
        {
            key
            for line_class, line in zip(classes, lines, strict=True)
            for key in id_keys(line_class, line.provider_ids)
        }
    )
    return [
        (
            line_class,
            match_line(
                line_class,
                product=line.product,
                description=line.description,
                start=line.start,
                end=line.end,
                candidates=candidates,
                provider_ids=line.provider_ids,
                by_id=by_id,
            ),
        )
        for line_class, line in zip(classes, lines, strict=True)
    ]


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
