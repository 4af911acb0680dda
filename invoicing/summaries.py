"""The revenue half of the margin summaries (issue 22): `revenue_summaries` rows per (period,
tenant, currency, deployment, reported kind), rewritten from the lines in the caller's
transaction by every writer that changes what counts as revenue.

The rules are analytics' (analytics/selectors.py, SPEC §14), applied once here instead of on
every read: revenue is the ex-tax, non-credit lines of the period's non-void invoices, minus
what the adjustment notes ISSUED in the period (UTC month) credit, on the deployment and kind
of the line they credit. The reported kind is the line kind for plan_base / addon /
llm_usage lines, else the billing kind (`resource_kind`), else the line kind.

Recompute-the-key rather than deltas: a writer names the (period, tenant) keys it touched and
their rows are deleted and re-inserted from the lines in ONE INSERT … SELECT, so a summary can
never drift from its lines however often a draft is regenerated. Writers: the rollup's
`write_invoice` (create / regenerate), `invoice_void`, `credit_note_issue`. A writer that
changes lines some other way (a data fix, a new source) calls `revenue_summary_refresh` too.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection

from arcadia_cloud.periods import month_end
from invoicing.models import (
    REVENUE_KIND_SHARDS,
    CreditNote,
    CreditNoteLine,
    InvoiceLineKind,
    InvoiceStatus,
    RevenueDeploymentTotal,
    RevenueKindTotal,
    RevenueSummary,
    TenantInvoice,
    TenantInvoiceLine,
)

# Lines reported under their line kind rather than a billing kind (analytics.LINE_KIND_GROUPS).
LINE_KIND_GROUPS = (InvoiceLineKind.PLAN_BASE, InvoiceLineKind.ADDON, InvoiceLineKind.LLM_USAGE)
NOT_REVENUE = (InvoiceLineKind.TAX, InvoiceLineKind.CREDIT)

_IN_GROUPS = ", ".join(f"'{kind.value}'" for kind in LINE_KIND_GROUPS)
_NOT_REVENUE = ", ".join(f"'{kind.value}'" for kind in NOT_REVENUE)

# What the summary statements return of each row (`_Row`): the kind totals' deltas and the
# deployment totals are computed from it, without reading the rows again.
_RETURNED = (
    "tenant_id, currency, deployment_id, kind, "
    "invoiced_cents, invoiced_lines, credited_cents, credited_lines"
)

# Table names and constants from the models; every value is a parameter.
_INSERT = f"""
INSERT INTO {RevenueSummary._meta.db_table}
    (period, tenant_id, currency, deployment_id, kind,
     invoiced_cents, invoiced_lines, credited_cents, credited_lines)
SELECT %s, tenant_id, currency, deployment_id, kind,
       SUM(invoiced_cents), SUM(invoiced_lines), SUM(credited_cents), SUM(credited_lines)
FROM (
    SELECT i.tenant_id AS tenant_id, i.currency AS currency, l.deployment_id AS deployment_id,
           CASE WHEN l.kind IN ({_IN_GROUPS}) THEN l.kind
                ELSE COALESCE(l.resource_kind, l.kind) END AS kind,
           l.amount_cents AS invoiced_cents, 1 AS invoiced_lines,
           0 AS credited_cents, 0 AS credited_lines
    FROM {TenantInvoiceLine._meta.db_table} l
    JOIN {TenantInvoice._meta.db_table} i ON i.id = l.invoice_id
    WHERE i.period_start = %s AND i.status <> '{InvoiceStatus.VOID.value}'
      AND l.kind NOT IN ({_NOT_REVENUE}) {{invoice_tenants}}
    UNION ALL
    SELECT n.tenant_id, n.currency, il.deployment_id,
           CASE WHEN il.kind IN ({_IN_GROUPS}) THEN il.kind
                ELSE COALESCE(il.resource_kind, il.kind) END,
           0, 0, -cl.amount_cents, 1
    FROM {CreditNoteLine._meta.db_table} cl
    JOIN {CreditNote._meta.db_table} n ON n.id = cl.note_id
    JOIN {TenantInvoiceLine._meta.db_table} il ON il.id = cl.invoice_line_id
    WHERE n.issued_at >= %s AND n.issued_at < %s {{note_tenants}}
) AS revenue
GROUP BY tenant_id, currency, deployment_id, kind
RETURNING {_RETURNED}
"""  # noqa: S608


_KIND_TOTALS = RevenueKindTotal._meta.db_table
_UPSERT_KIND_TOTALS = f"""
INSERT INTO {_KIND_TOTALS}
    (period, currency, kind, shard, invoiced_cents, invoiced_lines, credited_cents, credited_lines)
VALUES {{values}}
ON CONFLICT (period, currency, kind, shard) DO UPDATE SET
    invoiced_cents = {_KIND_TOTALS}.invoiced_cents + excluded.invoiced_cents,
    invoiced_lines = {_KIND_TOTALS}.invoiced_lines + excluded.invoiced_lines,
    credited_cents = {_KIND_TOTALS}.credited_cents + excluded.credited_cents,
    credited_lines = {_KIND_TOTALS}.credited_lines + excluded.credited_lines
"""  # noqa: S608
_DROP_EMPTY_KIND_TOTALS = (
    f"DELETE FROM {_KIND_TOTALS} WHERE period = %s AND invoiced_lines = 0 AND credited_lines = 0"  # noqa: S608
)


_SUMMARIES = RevenueSummary._meta.db_table
_DEPLOYMENT_TOTALS = RevenueDeploymentTotal._meta.db_table
DEPLOYMENT_TOTALS_BATCH = 1000
_DELETE_RETURNING = f"""
DELETE FROM {{table}} WHERE period = %s {{tenants}} RETURNING {_RETURNED}
"""  # noqa: S608
_INSERT_DEPLOYMENT_TOTALS = f"""
INSERT INTO {_DEPLOYMENT_TOTALS}
    (period, tenant_id, currency, deployment_id, invoiced_cents, credited_cents)
VALUES {{values}}
"""  # noqa: S608


def period_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a period's notes are issued in: [its first day, the next month's)."""
    start = dt.datetime.combine(period, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(month_end(period) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return start, end


def note_period(issued_at: dt.datetime) -> dt.date:
    """The period an adjustment note counts in: the UTC month it was issued in."""
    return issued_at.astimezone(dt.UTC).date().replace(day=1)


def revenue_summary_refresh(*, period: dt.date, tenant_ids: Iterable[str] | None) -> int:
    """Rewrite the (period, tenant) summary rows of these tenants (None: every tenant) from
    the lines, in the caller's transaction, with their deployment totals and their share of
    the kind totals; returns how many summary rows it wrote. A caller runs it after writing, in
    the same transaction, for every key whose lines it changed.

    At most five statements whatever the number of tenants: the old rows deleted (RETURNING
    what they held), the new ones inserted from the lines (RETURNING them), the tenants'
    deployment totals replaced (the delete only when there were rows before), and the kind
    totals' deltas applied (one upsert, when something changed)."""
    tenants = None if tenant_ids is None else sorted(set(tenant_ids))
    if tenants == []:
        return 0
    start, end = period_bounds(period)
    invoice_tenants = note_tenants = where_tenants = ""
    tenant_params: list[object] = []
    if tenants is not None:
        placeholders = ", ".join(["%s"] * len(tenants))
        invoice_tenants = f"AND i.tenant_id IN ({placeholders})"
        note_tenants = f"AND n.tenant_id IN ({placeholders})"
        where_tenants = f"AND tenant_id IN ({placeholders})"
        tenant_params = list(tenants)
    with connection.cursor() as cursor:
        cursor.execute(
            _DELETE_RETURNING.format(table=_SUMMARIES, tenants=where_tenants),
            [period, *tenant_params],
        )
        before = cursor.fetchall()
        sql = _INSERT.format(invoice_tenants=invoice_tenants, note_tenants=note_tenants)
        cursor.execute(sql, [period, period, *tenant_params, start, end, *tenant_params])
        after = cursor.fetchall()
        if before:  # the deployment totals exist exactly where summary rows did
            cursor.execute(
                f"DELETE FROM {_DEPLOYMENT_TOTALS} WHERE period = %s {where_tenants}",  # noqa: S608
                [period, *tenant_params],
            )
        _insert_deployment_totals(cursor, period, after)
    _apply_kind_deltas(period, _kind_sums(before), _kind_sums(after))
    return len(after)


def kind_shard(tenant_id: str) -> int:
    """The revenue kind total row a tenant's revenue counts in (stable, spread evenly)."""
    return zlib.crc32(tenant_id.encode()) % REVENUE_KIND_SHARDS


# A summary row as the DELETE / INSERT return it (`_RETURNED`).
_Row = tuple[str, str, int | None, str, int, int, int, int]
_Sums = dict[tuple[str, str, int], list[int]]  # (currency, kind, shard) -> the four figures


def _kind_sums(rows: Iterable[_Row]) -> _Sums:
    """Summary rows summed per (currency, kind, tenant's shard)."""
    sums: _Sums = defaultdict(lambda: [0, 0, 0, 0])
    for tenant_id, currency, _, kind, *figures in rows:
        total = sums[currency, kind, kind_shard(tenant_id)]
        for index, value in enumerate(figures):
            total[index] += value
    return sums


def _insert_deployment_totals(cursor, period: dt.date, rows: Iterable[_Row]) -> None:
    """The new summary rows summed over kinds per (tenant, currency, deployment), inserted in
    batches of DEPLOYMENT_TOTALS_BATCH rows."""
    totals: dict[tuple[str, str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for tenant_id, currency, deployment_id, _, invoiced, _, credited, _ in rows:
        total = totals[tenant_id, currency, deployment_id]
        total[0] += invoiced
        total[1] += credited
    values = [(period, *key, *figures) for key, figures in sorted(totals.items(), key=repr)]
    for begin in range(0, len(values), DEPLOYMENT_TOTALS_BATCH):
        batch = values[begin : begin + DEPLOYMENT_TOTALS_BATCH]
        cursor.execute(
            _INSERT_DEPLOYMENT_TOTALS.format(
                values=", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(batch))
            ),
            [value for row in batch for value in row],
        )


def _apply_kind_deltas(period: dt.date, before: _Sums, after: _Sums) -> None:
    """Add after - before to `revenue_kind_totals` in ONE upsert, in key order (two writers
    lock the rows they share in the same order), then drop the rows no line counts in any
    more."""
    deltas = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, [0, 0, 0, 0]), after.get(key, [0, 0, 0, 0])
        change = [b - a for a, b in zip(old, new, strict=True)]
        if any(change):
            deltas.append((period, *key, *change))
    if not deltas:
        return
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(deltas))
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_KIND_TOTALS.format(values=values), [value for row in deltas for value in row]
        )
        if any(row[5] < 0 or row[7] < 0 for row in deltas):  # some lines went away
            cursor.execute(_DROP_EMPTY_KIND_TOTALS, [period])


def revenue_summary_rebuild() -> int:
    """Rewrite every period's rows from the lines (the migration's backfill, the benchmark's
    setup after inserting lines straight into the tables, a repair), with the deployment and
    kind totals."""
    RevenueSummary.objects.all().delete()
    RevenueDeploymentTotal.objects.all().delete()
    RevenueKindTotal.objects.all().delete()
    periods = set(TenantInvoice.objects.values_list("period_start", flat=True).distinct())
    periods |= {note_period(at) for at in CreditNote.objects.values_list("issued_at", flat=True)}
    return sum(revenue_summary_refresh(period=period, tenant_ids=None) for period in periods)
