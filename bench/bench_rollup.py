"""Month-end rollup: `roll_up_period` over 5,000 tenants with two deployments each (10,000
subscriptions), through the real service (subscriptions read in bulk, one usage query, the
quote engine per subscription, one transaction per tenant).

The data set is built directly in the tables (the seeded catalog; deployments, subscriptions
and snapshotted add-ons with bulk_create; a month of daily usage and the passthrough LLM events
with INSERT … SELECT generate_series): a mix of starter / studio / pro, add-ons, mid-month starts
and mid-month cancellations, llm_mode passthrough / plan / none, five metered kinds per
deployment per day (about 1.6 million usage rows at 5,000 tenants) and plan-metered tokens,
plus last month's invoices (history).

Also 1x / 3x / 10x (500, 1,500, 5,000 tenants) to show how the cost grows, a re-run (every
tenant already invoiced: skipped) and, at 5,000 tenants, the same month rolled up by the monthly
task fanned out (invoicing/invoices/rollup/fanout.py) over one and then two real Celery worker
processes on a real Redis, in the same run: the 1-worker time is the ceiling the 2-worker time
is a ratio of.

Targets: ≤ 30 s at 5,000 tenants, queries O(tenants) (the same number per tenant at every size,
a constant per run aside), and 2 workers ≤ 0.65 of 1 worker.

A second line (issue 18): re-rating a draft version over the 5,000 tenants' month
(`analytics.rerating.version_rerate`: every subscription moved to studio for it, so the draft
affects all 5,000) against the rollup's own pricing of the same month (`rollup.pricing.load` +
`price` per tenant, what `roll_up_period` does before it writes), in the same run. Target: the
re-rating ≤ 2x the rollup's pricing (it is the same computation without the writes)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from _common import (
    counting_queries,
    cpu_figures,
    fresh_schema,
    raw_copy_ceiling,
    report,
    timed,
    vs_ceiling,
)
from _dataset import write_invoices
from celery import Celery
from django.db import connection, connections

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import days_in_month, month_end, previous_month
from catalog.models import Addon, PlanVersion, PlanVersionStatus
from catalog.seed import catalog_seed
from deployments.models import Deployment, Subscription, SubscriptionAddon, SubscriptionStatus
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import RollupRun, TenantInvoice, TenantInvoiceLine

DB_URL = os.environ.get("DATABASE_URL", "")

DEPLOYMENTS_PER_TENANT = 2
# BENCH_ROLLUP_SIZES=100,300 for a quick look; the table is made at the default sizes.
SIZES = tuple(int(n) for n in os.environ.get("BENCH_ROLLUP_SIZES", "500,1500,5000").split(","))
PLANS = ("starter", "studio", "pro")
LLM_MODES = ("passthrough", "plan", "none")
LLM_EVENTS_PER_PASSTHROUGH_DEPLOYMENT = 4

# One row per deployment, kind and day: (billing kind, numerator expression, denominator).
# `d` is the deployment row, `days` the month's length.
DAILY_USAGE = """
INSERT INTO usage_records (deployment_id, resource_id, resource_kind, period_start, granularity,
                           qty, qty_numerator, qty_denominator, source, created_at)
SELECT d.id, NULL, k.kind, day, 'daily', round(k.numerator / k.denominator, 6), k.numerator,
       k.denominator, k.source, now()
FROM cloud_deployments d
CROSS JOIN generate_series(%(start)s::timestamptz, %(last)s::timestamptz, '1 day') AS day
CROSS JOIN LATERAL (VALUES
    ('droplet_hours', (24 * (1 + d.id %% 4))::numeric, 1, 'manual'),
    ('spaces_gb_month', (d.id %% 300)::numeric, %(days)s, 'manual'),
    ('snapshot_gb_month', (d.id %% 60)::numeric, %(days)s, 'manual'),
    ('bandwidth_gb', (d.id %% 120)::numeric, 1, 'manual'),
    ('dns_zones', (1 + d.id %% 4)::numeric, %(days)s, 'manual'),
    ('llm_tokens', (10000 * (d.id %% 7))::numeric, 1, 'llm_gateway')
) AS k(kind, numerator, denominator, source)
WHERE k.kind <> 'llm_tokens' OR d.llm_mode = 'plan'
"""
PASSTHROUGH_EVENTS = """
INSERT INTO llm_usage_events (gateway_request_id, deployment_id, tenant_id, model, input_tokens,
                              output_tokens, charge, currency, occurred_at, received_at,
                              billed_as, payload_hash)
SELECT 'bench-' || d.id || '-' || n, d.id, d.tenant_id, 'gpt-x', 1000 * n, 250 * n,
       (n * 0.00731 + d.id %% 13 * 0.001)::numeric(20, 8), 'AUD',
       %(start)s::timestamptz + n * interval '6 days', now(), 'passthrough', md5(d.id || '-' || n)
FROM cloud_deployments d CROSS JOIN generate_series(1, %(events)s) AS n
WHERE d.llm_mode = 'passthrough'
"""


def period() -> dt.date:
    """Last month: the latest period a rollup accepts (its last day is over)."""
    return previous_month(utc_today())


def build(tenants: int, start: dt.date) -> None:
    fresh_schema()
    catalog_seed()
    versions = {
        version.plan.code: version
        for version in PlanVersion.objects.filter(status=PlanVersionStatus.ACTIVE).select_related(
            "plan"
        )
    }
    addons = {addon.code: addon for addon in Addon.objects.all()}
    deployments = Deployment.objects.bulk_create(
        (
            Deployment(
                tenant_id=f"tenant-{i // DEPLOYMENTS_PER_TENANT:05d}",
                slug=f"app-{i % DEPLOYMENTS_PER_TENANT}",
                display_name=f"App {i}",
                llm_mode=LLM_MODES[i % len(LLM_MODES)],
            )
            for i in range(tenants * DEPLOYMENTS_PER_TENANT)
        ),
        batch_size=5000,
    )
    end = month_end(start)
    subscriptions = []
    for i, deployment in enumerate(deployments):
        started_on, cancelled_on = start - dt.timedelta(days=45), None
        if i % 10 == 3:
            started_on = start + dt.timedelta(days=i % 27)  # mid-month start: prorated
        elif i % 25 == 7:
            cancelled_on = start + dt.timedelta(days=5 + i % 20)  # cancelled mid-month
        subscriptions.append(
            Subscription(
                deployment=deployment,
                plan_version=versions[PLANS[i % len(PLANS)]],
                status=SubscriptionStatus.CANCELLED if cancelled_on else SubscriptionStatus.ACTIVE,
                current_period_start=start,
                current_period_end=end,
                started_on=started_on,
                cancelled_on=cancelled_on,
            )
        )
    Subscription.objects.bulk_create(subscriptions, batch_size=5000)
    attached = []
    for i, subscription in enumerate(subscriptions):
        codes = (["storage_50gb"] if i % 3 == 1 else []) + (["llm_1m_tokens"] if i % 5 == 0 else [])
        attached += [
            SubscriptionAddon(
                subscription=subscription,
                addon=addons[code],
                code=code,
                name=addons[code].name,
                resource_kind=addons[code].resource_kind,
                qty=addons[code].qty,
                price_cents=addons[code].price_cents,
                currency=addons[code].currency,
            )
            for code in codes
        ]
    SubscriptionAddon.objects.bulk_create(attached, batch_size=5000)
    bounds = {
        "start": f"{start.isoformat()}T00:00:00Z",
        "last": f"{end.isoformat()}T00:00:00Z",
        "days": days_in_month(start),
        "events": LLM_EVENTS_PER_PASSTHROUGH_DEPLOYMENT,
    }
    with connection.cursor() as cursor:
        cursor.execute(DAILY_USAGE, bounds)
        cursor.execute(PASSTHROUGH_EVENTS, bounds)
        # Last month's invoices: a reseller of 5,000 tenants has history, and PostgreSQL plans
        # the invoice tables' foreign-key checks for the table it has, not for an empty one.
        write_invoices(cursor, tenants, [previous_month(start)])
        cursor.execute("VACUUM ANALYZE")  # the timed part must not share the CPU with autovacuum


def usage_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_records")
        return cursor.fetchone()[0]


def measure(tenants: int, start: dt.date) -> dict:
    build(tenants, start)
    with timed() as run, counting_queries() as queries:
        result = roll_up_period(start)
    assert len(result.invoiced) == tenants and not result.failed, result.summary()
    with timed() as rerun:
        again = roll_up_period(start)
    assert len(again.skipped) == tenants, again.summary()
    # The ceiling of the rollup's writes: its invoices and lines COPYed raw (issue 22).
    month = "invoice_id IN (SELECT id FROM tenant_invoices WHERE period_start = %s)"
    copies = [
        raw_copy_ceiling("tenant_invoices", "period_start = %s", [start]),
        raw_copy_ceiling("tenant_invoice_lines", month, [start]),
    ]
    return {
        "write_ceiling_seconds": sum(c["seconds"] for c in copies),
        "tenants": tenants,
        "seconds": run["seconds"],
        "cpu": cpu_figures(run),
        "rerun_seconds": rerun["seconds"],
        "queries": queries.count,
        "invoices": TenantInvoice.objects.filter(period_start=start).count(),
        "lines": TenantInvoiceLine.objects.filter(invoice__period_start=start).count(),
        "usage_rows": usage_rows(),
    }


def clear_month(start: dt.date) -> None:
    """Remove the month's draft invoices (and the runs), so the month can be rolled up again."""
    with connection.cursor() as cursor:
        for table in ("tenant_invoice_events", "tenant_invoice_lines"):
            cursor.execute(
                f"DELETE FROM {table} WHERE invoice_id IN "
                "(SELECT id FROM tenant_invoices WHERE period_start = %s)",
                [start],
            )
        cursor.execute("DELETE FROM tenant_invoices WHERE period_start = %s", [start])
        cursor.execute("DELETE FROM rollup_run_chunks")
        cursor.execute("DELETE FROM rollup_runs")
        cursor.execute("VACUUM ANALYZE tenant_invoices, tenant_invoice_lines, rollup_runs")


def fanned_out(start: dt.date, workers: int, broker: str) -> float:
    """The month again, by the monthly task fanned out over `workers` real Celery worker
    processes (solo pool, one task at a time each) on a real Redis; wall seconds from sending
    the task to the run's report. The workers are started (and ready) before the clock starts."""
    from tests.services import celery_worker  # the suite's real-worker helper

    clear_month(start)
    connections.close_all()
    with contextlib.ExitStack() as stack:
        logs = []
        for n in range(workers):
            log = Path(tempfile.mkstemp(prefix=f"bench-rollup-worker-{n}-", suffix=".log")[1])
            logs.append(log)
            stack.enter_context(celery_worker(broker, log=log, env={"DATABASE_URL": DB_URL}))
        wait_for(lambda: all("ready." in log.read_text() for log in logs), "workers ready")
        app = Celery(broker=broker, set_as_current=False)
        began = time.perf_counter()
        app.send_task("invoicing.roll_up_period", args=[start.isoformat()], queue="default")
        wait_for(lambda: RollupRun.objects.filter(finished_at__isnull=False).exists(), "the run")
        seconds = time.perf_counter() - began
        app.close()
    run = RollupRun.objects.get()
    tenants = run.tenants_total
    assert run.report["counts"]["invoiced"] == tenants and not run.report["counts"]["failed"]
    return seconds


def wait_for(condition, what: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.1)
        connection.close()  # a fresh snapshot on the next poll


def with_workers(start: dt.date) -> dict:
    """1 worker, then 2 workers, on the same data in the same run."""
    from tests.services import redis_server

    with redis_server() as broker:
        one = fanned_out(start, 1, broker)
        two = fanned_out(start, 2, broker)
    return {"one_worker_seconds": one, "two_workers_seconds": two, "ratio": two / one}


def rerating_against_rollup_pricing(start: dt.date) -> dict:
    """The rollup's pricing of the month (no writes) and the re-rating of a studio draft over
    the same tenants, median of 3 each, after every subscription is moved to studio."""
    import statistics

    from analytics.rerating import version_rerate
    from catalog.models import Plan
    from catalog.services import PlanItemInput, plan_version_create
    from invoicing.invoices.rollup import inputs, pricing
    from pricing.invoice import Month

    studio = PlanVersion.objects.get(plan__code="studio", status=PlanVersionStatus.ACTIVE)
    Subscription.objects.update(plan_version=studio)
    draft = plan_version_create(
        plan=Plan.objects.get(code="studio"),
        base_price_cents=studio.base_price_cents + 500,
        currency=studio.currency,
        items=[
            PlanItemInput(i.resource_kind, i.included_qty, i.overage_price_cents + 1)
            for i in studio.items.all()
        ],
        actor="bench",
    )
    month = Month.of(start)

    def rollup_pricing() -> int:
        subjects = inputs.subjects_by_tenant(month, None)
        tenants = sorted(subjects)
        loaded = pricing.load(month, subjects, tenants)
        return len([pricing.price(loaded, tenant_id) for tenant_id in tenants])

    def rerating() -> int:
        result = version_rerate(version_id=draft.pk, period=start)
        assert not result["failed"], result["failed"][:3]
        return len(result["tenants"])

    figures = {}
    for name, call in (("rollup_pricing", rollup_pricing), ("rerating", rerating)):
        times = []
        for _ in range(3):
            with timed() as took, counting_queries() as queries:
                count = call()
            times.append(took["seconds"])
        figures[name] = {
            "seconds": statistics.median(times),
            "tenants": count,
            "queries": queries.count,
        }
    figures["ratio"] = figures["rerating"]["seconds"] / figures["rollup_pricing"]["seconds"]
    return figures


def main() -> None:
    start = period()
    runs = [measure(tenants, start) for tenants in SIZES]
    rerated = rerating_against_rollup_pricing(start)  # on the largest size, built last
    workers = with_workers(start)
    full = runs[-1]
    # O(tenants): the queries beyond a per-tenant constant do not grow with the data.
    slope = (full["queries"] - runs[0]["queries"]) / (full["tenants"] - runs[0]["tenants"])
    fixed = full["queries"] - slope * full["tenants"]
    linear = all(abs(run["queries"] - (slope * run["tenants"] + fixed)) < 1 for run in runs)
    met = full["seconds"] <= 30 and linear and workers["ratio"] <= 0.65
    report(
        "roll_up_period, 10,000 subscriptions / 5,000 tenants",
        result=(
            f"{full['seconds']:.1f} s, {full['invoices']:,} invoices, {full['lines']:,} lines, "
            f"{full['queries']:,} queries = {slope:g} per tenant (and one COPY of its lines) "
            f"+ {fixed:g}"
        ),
        target="≤ 30 s, queries O(tenants); 2 workers ≤ 0.65 of 1 worker (fanned out)",
        met=met,
        period=start.isoformat(),
        usage_rows=full["usage_rows"],
        **full["cpu"],
        rerun_seconds=round(full["rerun_seconds"], 2),
        fanned_out_one_worker_seconds=round(workers["one_worker_seconds"], 1),
        fanned_out_two_workers_seconds=round(workers["two_workers_seconds"], 1),
        two_to_one_worker_ratio=round(workers["ratio"], 2),
        vs_ceiling=[
            vs_ceiling(
                f"2 workers {workers['two_workers_seconds']:.1f} s",
                f"1 worker {workers['one_worker_seconds']:.1f} s",
                workers["ratio"],
                "of the 1-worker time",
            ),
            vs_ceiling(
                f"rollup {full['seconds']:.1f} s",
                f"raw COPY of its invoices and lines {full['write_ceiling_seconds']:.2f} s",
                full["write_ceiling_seconds"] / full["seconds"],
                "of the time is the raw write",
            ),
        ],
        queries_per_tenant={
            f"{r['tenants']:,}": round(r["queries"] / r["tenants"], 3) for r in runs
        },
        growth_seconds={f"{r['tenants']:,} tenants": round(r["seconds"], 2) for r in runs},
    )
    report(
        f"re-rating a draft version over {rerated['rerating']['tenants']:,} tenants vs the "
        "rollup's pricing of the same month",
        result=(
            f"{rerated['rerating']['seconds']:.2f} s vs {rerated['rollup_pricing']['seconds']:.2f}"
            f" s = {rerated['ratio']:.2f}x (median of 3)"
        ),
        target="≤ 2x the rollup's pricing (the same computation without the writes)",
        met=rerated["ratio"] <= 2 and rerated["rerating"]["tenants"] == full["tenants"],
        queries={
            "rerating": rerated["rerating"]["queries"],
            "rollup_pricing": rerated["rollup_pricing"]["queries"],
        },
        note="the data set has no DigitalOcean cost lines: COGS is one empty grouped query",
    )


if __name__ == "__main__":
    main()
