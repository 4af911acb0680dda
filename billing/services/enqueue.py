"""Side effects of billing writes: Celery tasks, queued only once the transaction commits
(`arcadia_cloud.celery.enqueue_on_commit`, by task name: the tasks import these services)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from arcadia_cloud.celery import enqueue_on_commit

INGEST_TASK = "billing.ingest_invoice"
PUSH_TASK = "billing.push_to_finance"
DAILY_COSTS_TASK = "billing.ingest_daily_costs"
# One billing-insights request covers at most this many days after its first (DigitalOcean).
DAILY_RANGE_SPAN_DAYS = 31


def invoice_ingest_enqueue(*, invoice_uuids: Iterable[str]) -> None:
    for invoice_uuid in invoice_uuids:
        enqueue_on_commit(INGEST_TASK, invoice_uuid)


def finance_push_enqueue(*, invoice_uuids: Iterable[str], force: bool = False) -> None:
    for invoice_uuid in invoice_uuids:
        enqueue_on_commit(PUSH_TASK, invoice_uuid, force=force)


def daily_costs_ingest_enqueue(*, days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Queue the re-ingest of these days: one task per run of consecutive days (at most 32
    days each, DigitalOcean's widest range). Returns the ranges queued."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges:
            first, last = ranges[-1]
            if day == last + dt.timedelta(days=1) and (day - first).days <= DAILY_RANGE_SPAN_DAYS:
                ranges[-1] = (first, day)
                continue
        ranges.append((day, day))
    for first, last in ranges:
        enqueue_on_commit(DAILY_COSTS_TASK, first.isoformat(), last.isoformat())
    return ranges
