"""The month-end rollup fanned out over Celery workers.

`rollup_run_start` splits the period's tenants into chunks and records them (`RollupRun`, one
`RollupRunChunk` per chunk) in one transaction, then queues one `invoicing.roll_up_chunk` task
per chunk once it commits. Any worker takes any chunk: `rollup_chunk_complete` rolls its
tenants up through the same `roll_up_period` as the in-process run — one transaction and one
advisory lock per tenant — so a redelivered or duplicated chunk writes nothing twice. The chunk
that completes last merges every chunk's results into the run's report, under the run's row lock,
so exactly one delivery writes it.

Chunk tasks are `acks_late`: a worker killed mid-chunk never acknowledges it and the broker
hands it to another worker, which finds the tenants the dead one had written (invoices created
since the run started) and reports them as invoiced by this run.

Without a broker (the quick start, most tests) the chunks run in-process, one after another;
the run is finished when `rollup_run_start` returns.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from arcadia_cloud.celery import enqueue
from arcadia_cloud.periods import month_end
from invoicing.invoices.locks import lock_rollup_chunk, lock_rollup_run
from invoicing.invoices.rollup.report import RollupReport, TenantResult
from invoicing.invoices.rollup.service import period_tenants, roll_up_period
from invoicing.models import RollupRun, RollupRunChunk

logger = logging.getLogger(__name__)

CHUNK_TASK = "invoicing.roll_up_chunk"


def rollup_run_start(
    period_start: dt.date, *, force: bool = False, chunk_size: int | None = None, actor: str
) -> RollupRun:
    """Record a fanned-out rollup of the month and queue its chunks (after the commit).

    400 naming `period` for a month that is not over, as the in-process run. A month with no
    tenant to consider is a finished run with an empty report."""
    size = chunk_size or settings.ROLLUP_CHUNK_SIZE
    if size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {size}")
    month, tenants = period_tenants(period_start)
    chunks = [tenants[i : i + size] for i in range(0, len(tenants), size)]
    with transaction.atomic(durable=True):
        run = RollupRun.objects.create(
            period_start=month.start,
            force=force,
            actor=actor,
            chunk_size=size,
            chunks_total=len(chunks),
            tenants_total=len(tenants),
        )
        RollupRunChunk.objects.bulk_create(
            RollupRunChunk(run=run, number=number, tenant_ids=tenant_ids)
            for number, tenant_ids in enumerate(chunks, start=1)
        )
        if not chunks:
            _finish(run)
        chunk_ids = list(run.chunks.order_by("number").values_list("pk", flat=True))
    # Committed (the block is durable): a worker taking a chunk at once finds it.
    for chunk_id in chunk_ids:
        enqueue(CHUNK_TASK, chunk_id)
    logger.info(
        "rollup %s: run %s fanned out %s tenants in %s chunk(s) of up to %s",
        month.label,
        run.pk,
        len(tenants),
        len(chunks),
        size,
    )
    return run


def rollup_chunk_complete(chunk_id: int) -> dict:
    """Roll up one chunk's tenants (any delivery of it, any number of times) and record its
    results once; the last chunk of the run writes the run's report. Returns what the chunk
    did: `{"run", "chunk", "tenants", "duplicate", "run_finished"}`."""
    chunk = RollupRunChunk.objects.select_related("run").get(pk=chunk_id)
    run = chunk.run
    if chunk.finished_at is not None:  # a duplicate delivery of a completed chunk
        return _outcome(chunk, duplicate=True, run_finished=run.finished_at is not None)
    RollupRunChunk.objects.filter(pk=chunk_id).update(deliveries=F("deliveries") + 1)
    report = roll_up_period(
        run.period_start,
        force=run.force,
        tenant_ids=chunk.tenant_ids,
        actor=run.actor,
        written_since=run.started_at,
    )
    with transaction.atomic(durable=True):
        chunk = lock_rollup_chunk(chunk_id)
        if chunk.finished_at is not None:  # a concurrent delivery completed it first
            return _outcome(chunk, duplicate=True, run_finished=chunk.run.finished_at is not None)
        chunk.results = [result.as_dict() for result in report.results]
        chunk.finished_at = timezone.now()
        chunk.save(update_fields=["results", "finished_at"])
        run = lock_rollup_run(chunk.run_id)
        unfinished = run.chunks.filter(finished_at__isnull=True).exists()
        if not unfinished and run.finished_at is None:
            _finish(run)
    return _outcome(chunk, duplicate=False, run_finished=run.finished_at is not None)


def run_report(run: RollupRun) -> RollupReport:
    """The report of a run from its chunks' recorded results (those completed so far)."""
    results = [
        TenantResult.from_dict(data)
        for results in run.chunks.exclude(results=None).values_list("results", flat=True)
        for data in results
    ]
    return RollupReport.of(
        run.period_start, month_end(run.period_start), force=run.force, results=results
    )


def _finish(run: RollupRun) -> None:
    report = run_report(run)
    run.report = report.as_dict()
    run.finished_at = timezone.now()
    run.save(update_fields=["report", "finished_at"])
    logger.info("%s (run %s, %s chunk(s))", report.summary(), run.pk, run.chunks_total)


def _outcome(chunk: RollupRunChunk, *, duplicate: bool, run_finished: bool) -> dict:
    return {
        "run": chunk.run_id,
        "chunk": chunk.number,
        "tenants": len(chunk.tenant_ids),
        "duplicate": duplicate,
        "run_finished": run_finished,
    }
