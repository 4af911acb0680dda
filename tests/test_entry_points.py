"""Entry points of the jobs are durable transactions (docs/decisions.md, "An entry point is
durable unless an API request can call it"): a job's unit of work is never folded into a caller's
transaction by accident — nesting one is a RuntimeError, not a silent savepoint."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from arcadia_cloud.schedules import install_schedules
from billing.services.balance import balance_snapshot_fetch
from billing.services.daily import _replace_days
from billing.services.history import _upsert_headers
from billing.services.ingest import _replace_lines
from catalog.models import Plan
from catalog.seed import catalog_seed
from catalog.services import provider_prices_sync
from drift.services import drift_detect_all
from dunning.infrastructure import infrastructure_actions_advance
from inventory.services import mark_stale, measurement_record, projects_upsert, upsert_resources
from invoicing.invoices.rollup import roll_up_period
from invoicing.invoices.rollup.fanout import rollup_run_start
from invoicing.usage.measured import measured_usage_catch_up
from invoicing.usage.metering import meter_day, usage_records_purge_expired
from tests.invoicing.factories import seed_catalog, subscriber
from webhooks.services import webhook_delivery_attempt

pytestmark = pytest.mark.django_db

# Each is what a Celery task or a management command runs; none is reachable from an API view
# (a keyed API request runs in one transaction, which a durable block would refuse).
ENTRY_POINTS = {
    "inventory sync: upsert": lambda: upsert_resources([]),
    "inventory sync: strikes": lambda: mark_stale(kind="droplet", seen_provider_ids=[]),
    "inventory sync: projects": lambda: projects_upsert(
        [], internal_name="internal", internal_tenant="platform-admin"
    ),
    "billing: balance snapshot": lambda: balance_snapshot_fetch(client=None),
    "billing: history headers": lambda: _upsert_headers({}, None, enqueue_ingest=False),
    "billing: ingest lines": lambda: _replace_lines(None, [], period=None, push_to_finance=False),
    "billing: daily costs": lambda: _replace_days(dt.date(2026, 4, 1), dt.date(2026, 4, 1), []),
    "drift sweep": drift_detect_all,
    "metering: a day": lambda: meter_day(dt.date(2026, 4, 1)),
    "rollup: a fanned-out run": lambda: rollup_run_start(dt.date(2026, 4, 1), actor="test"),
    "metering: retention": usage_records_purge_expired,
    "setup_schedules": install_schedules,
    "seed_catalog": catalog_seed,
    "dunning: infrastructure actions": infrastructure_actions_advance,
    "webhooks: one delivery attempt": lambda: webhook_delivery_attempt(delivery_id=0),
    "inventory: a measurement": lambda: measurement_record(
        resource_id=0, day=dt.date(2026, 4, 1), metric="x", status="failed", source="test"
    ),
    "metering: late measurements": lambda: measured_usage_catch_up(day=dt.date(2026, 4, 1)),
    "catalog: DigitalOcean price list": lambda: provider_prices_sync(
        listed=[], today=dt.date(2026, 4, 1)
    ),
}


@pytest.mark.parametrize("run", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_an_entry_point_refuses_to_run_inside_another_transaction(run):
    refused = pytest.raises(RuntimeError, match="durable atomic block cannot be nested")
    with transaction.atomic(), refused:
        run()


def test_an_entry_point_runs_inside_a_test_transaction():
    """pytest-django's per-test transaction is marked as the test case's, so durable blocks run
    in tests exactly as in a worker."""
    report = catalog_seed()
    assert report.changed and Plan.objects.exists()


def test_a_rollup_nested_in_a_transaction_writes_no_tenant():
    """Each tenant's invoice is its own durable transaction, so a rollup run inside a caller's
    transaction cannot write any; the rollup contains per-tenant errors, so each is reported."""
    seed_catalog()
    subscriber("acme", droplets=0)
    with transaction.atomic():
        report = roll_up_period(dt.date(2026, 4, 1))
    (failed,) = report.failed
    assert "durable atomic block cannot be nested" in failed.reason
    assert not report.invoiced
