"""The month-end rollup fanned out over Celery workers (invoicing/invoices/rollup/fanout.py):
chunks of tenants, one task each, the same per-tenant transaction and lock as in-process, the
last chunk writing the run's report — in-process (eager) and with real workers on real Redis
and PostgreSQL, one of them SIGKILLed mid-chunk."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection, transaction
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from arcadia_cloud.validation import FieldError
from invoicing.invoices.locks import lock_tenant_period
from invoicing.invoices.rollup import RollupOutcome, roll_up_period
from invoicing.invoices.rollup.fanout import rollup_chunk_complete, rollup_run_start
from invoicing.models import RollupRun, RollupRunChunk, TenantInvoice, TenantInvoiceEvent
from invoicing.tasks import roll_up_period as roll_up_task
from tests.invoicing.factories import APRIL, meter, seed_catalog, subscriber
from tests.reliability.helpers import subprocess_database_url, wait_until
from tests.services import celery_worker, redis_server

TENANTS = [f"tenant-{n}" for n in range(1, 6)]


def five_tenants() -> None:
    seed_catalog()
    for n, tenant_id in enumerate(TENANTS):
        subscriber(tenant_id, droplets=n % 3, plan=("starter", "studio")[n % 2])
    meter()


def invoices_by_tenant() -> dict[str, int]:
    return dict(
        TenantInvoice.objects.filter(period_start=APRIL).values_list("tenant_id", "total_cents")
    )


@pytest.mark.django_db
def test_a_fanned_out_run_invoices_each_tenant_once_in_chunks_and_reports_them_all():
    five_tenants()

    run = rollup_run_start(APRIL, chunk_size=2, actor="test")

    run.refresh_from_db()
    chunks = list(run.chunks.all())
    assert [chunk.tenant_ids for chunk in chunks] == [TENANTS[0:2], TENANTS[2:4], TENANTS[4:]]
    assert all(chunk.finished_at and chunk.deliveries == 1 for chunk in chunks)
    assert (run.chunks_total, run.tenants_total) == (3, 5) and run.finished_at
    totals = invoices_by_tenant()
    assert sorted(totals) == TENANTS
    report = run.report
    assert report["counts"]["invoiced"] == 5 and report["counts"]["failed"] == 0
    assert [t["tenant_id"] for t in report["tenants"]] == TENANTS
    assert {t["tenant_id"]: t["total_cents"] for t in report["tenants"]} == totals
    (aud,) = report["totals_by_currency"]
    assert (aud["invoices"], aud["total_cents"]) == (5, sum(totals.values()))


@pytest.mark.django_db
def test_the_fanned_out_invoices_are_the_in_process_rollups_to_the_cent():
    five_tenants()
    rollup_run_start(APRIL, chunk_size=2, actor="test")
    fanned_out = invoices_by_tenant()

    again = roll_up_period(APRIL, force=True)  # the in-process run, rewriting every draft

    assert len(again.regenerated) == 5
    assert {r.tenant_id: r.total_cents for r in again.regenerated} == fanned_out


@pytest.mark.django_db
def test_a_duplicate_delivery_of_a_finished_chunk_writes_nothing():
    five_tenants()
    run = rollup_run_start(APRIL, chunk_size=2, actor="test")
    events = TenantInvoiceEvent.objects.count()
    first = run.chunks.get(number=1)

    outcome = rollup_chunk_complete(first.pk)

    assert outcome == {
        "run": run.pk,
        "chunk": 1,
        "tenants": 2,
        "duplicate": True,
        "run_finished": True,
    }
    assert TenantInvoiceEvent.objects.count() == events
    assert RollupRunChunk.objects.get(pk=first.pk).deliveries == 1


@pytest.mark.django_db
def test_a_tenant_an_earlier_delivery_wrote_counts_as_invoiced_by_the_run():
    """What a redelivered chunk sees: some of its tenants were written by the delivery that
    died. Since the run started, they are this run's invoices, not skips."""
    five_tenants()
    before = roll_up_period(APRIL, tenant_ids=TENANTS[:1]).results[0]
    started_at = timezone.now()
    roll_up_period(APRIL, tenant_ids=TENANTS[1:2])  # "the earlier delivery" of this run

    report = roll_up_period(APRIL, tenant_ids=TENANTS[:3], written_since=started_at)

    outcomes = {r.tenant_id: (r.outcome, r.reason) for r in report.results}
    assert outcomes[TENANTS[0]] == (RollupOutcome.SKIPPED, "already invoiced")
    assert outcomes[TENANTS[1]] == (
        RollupOutcome.INVOICED,
        "written by an earlier delivery of this run",
    )
    assert outcomes[TENANTS[2]] == (RollupOutcome.INVOICED, "")
    assert before.outcome == RollupOutcome.INVOICED
    assert report.totals_by_currency()[0].invoices == 2


@pytest.mark.django_db
def test_a_month_without_tenants_is_a_finished_empty_run():
    seed_catalog()

    run = rollup_run_start(APRIL, actor="test")

    run.refresh_from_db()
    assert (run.chunks_total, run.tenants_total) == (0, 0)
    assert run.finished_at and run.report["tenants"] == []


@pytest.mark.django_db
def test_a_month_that_is_not_over_is_refused_naming_the_period_and_records_no_run():
    with pytest.raises(FieldError) as refused:
        rollup_run_start(utc_today().replace(day=1), actor="test")

    assert refused.value.field == "period" and "not over yet" in refused.value.message
    assert not RollupRun.objects.exists()


@pytest.mark.django_db
def test_the_task_fans_out_and_returns_the_finished_report_without_a_broker(settings):
    five_tenants()
    settings.ROLLUP_CHUNK_SIZE = 2

    result = roll_up_task.delay("2026-04").get()

    assert result["counts"]["invoiced"] == 5
    run = RollupRun.objects.get(pk=result["run"])
    assert run.chunks_total == 3 and run.actor == "task:invoicing.roll_up_period"


# -- Real workers on real Redis and PostgreSQL ----------------------------------------------------

SIX = [f"tenant-{n}" for n in range(1, 7)]


def started_chunks(log: Path) -> int:
    text = log.read_text() if log.exists() else ""
    return sum(
        1 for line in text.splitlines() if "invoicing.roll_up_chunk[" in line and "received" in line
    )


def finished_chunks(log: Path) -> int:
    text = log.read_text() if log.exists() else ""
    return sum(
        1
        for line in text.splitlines()
        if "invoicing.roll_up_chunk[" in line and "succeeded" in line
    )


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_month_and_a_killed_workers_chunk_is_redelivered(tmp_path):
    """Six tenants in three chunks of two, two real workers. The last tenant's (tenant, period)
    lock is held by the test, so the worker taking the last chunk writes tenant-5 and then
    waits; it is SIGKILLed there. A fresh worker gets the unacknowledged chunk back, finds
    tenant-5 written by the dead delivery and tenant-6 still to do. Every tenant is invoiced
    exactly once and the run's report lists all six as invoiced."""
    if connection.vendor != "postgresql":
        pytest.skip("the workers need the PostgreSQL test database")
    seed_catalog()
    for n, tenant_id in enumerate(SIX):
        subscriber(tenant_id, droplets=n % 2)
    env = {"DATABASE_URL": subprocess_database_url(), "ROLLUP_CHUNK_SIZE": "2"}
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    with redis_server() as broker:
        app = Celery(broker=broker, backend=broker, set_as_current=False)
        try:
            with transaction.atomic():
                lock_tenant_period(SIX[-1], APRIL)  # held until the block ends
                with (
                    celery_worker(broker, env=env, log=logs[0]) as first,
                    celery_worker(broker, env=env, log=logs[1]) as second,
                ):
                    started = app.send_task(
                        "invoicing.roll_up_period", args=["2026-04"], queue="default"
                    )
                    started.get(timeout=60)

                    def stuck_workers() -> list:
                        return [
                            worker
                            for worker, log in zip((first, second), logs, strict=True)
                            if started_chunks(log) > finished_chunks(log)
                        ]

                    # Celery logs "succeeded" after the chunk's finish is committed: wait for
                    # the logs too, so a finished chunk's worker is not taken for the stuck one.
                    wait_until(
                        lambda: (
                            RollupRunChunk.objects.filter(finished_at__isnull=False).count() == 2
                            and TenantInvoice.objects.filter(tenant_id=SIX[-2]).exists()
                            and len(stuck_workers()) <= 1
                        ),
                        timeout=90,
                        what="two chunks done and the third waiting on tenant-6's lock",
                    )
                    stuck = stuck_workers()
                    assert len(stuck) == 1, [log.read_text() for log in logs]
                    stuck[0].send_signal(signal.SIGKILL)
                    stuck[0].wait(timeout=10)
            # The lock is released; a worker that restores unacknowledged messages quickly.
            redelivery = {
                **env,
                "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(
                    {
                        "visibility_timeout": 2,
                        "unacked_restore_interval": 1,
                        "unacked_restore_throttle": 1,
                    }
                ),
            }
            with celery_worker(broker, env=redelivery, log=logs[0]):
                wait_until(
                    lambda: RollupRun.objects.filter(finished_at__isnull=False).exists(),
                    timeout=90,
                    what="the redelivered chunk and the run's report",
                )
        except Exception:
            for log in logs:
                print(log.read_text() if log.exists() else "")
            raise
        finally:
            app.close()

    run = RollupRun.objects.get()
    assert sorted(invoices_by_tenant()) == SIX
    assert TenantInvoiceEvent.objects.filter(type="generated").count() == 6  # once each
    last = run.chunks.get(number=3)
    assert last.deliveries == 2  # the killed delivery and the redelivery
    assert run.report["counts"]["invoiced"] == 6
    outcomes = {t["tenant_id"]: (t["outcome"], t["reason"]) for t in run.report["tenants"]}
    assert outcomes[SIX[-2]] == ("invoiced", "written by an earlier delivery of this run")
    assert outcomes[SIX[-1]] == ("invoiced", "")
