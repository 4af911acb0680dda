"""Bad days: the provider, the finance service, the database and a worker fail, and nothing is
lost, tombstoned by mistake, half-written or done twice.

Faults come from outside our code only: the DigitalOcean emulator's fault plan (429 storms, 5xx
mid-pagination, slow pages, garbage bodies), `responses` for the finance service, a PostgreSQL
trigger that refuses one tenant's invoice, and SIGKILL for a Celery worker. Nothing of ours is
patched.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from io import StringIO
from pathlib import Path

import pytest
import responses
from celery import Celery
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from billing.models import CloudCostLine, CloudInvoice
from billing.services import InvoiceUnreadable, billing_history_sync, invoice_ingest
from billing.tasks import push_to_finance
from integrations.digitalocean import DigitalOceanClient, DOBadPayload, DORateLimited, DOServerError
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory.models import CloudProject, CloudResource, CloudResourceEvent
from inventory.sync import INTERNAL_PROJECT_NAME, PROJECTS, SYNC_TARGETS, sync_target
from invoicing.invoices.rollup import RollupOutcome, roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceEvent, TenantInvoiceLine
from tests.invoicing.factories import APRIL, seed_catalog, subscriber
from tests.reliability.helpers import (
    subprocess_database_url,
    wait_until,
)
from tests.services import celery_worker, redis_server

PERIOD = dt.date(2026, 4, 1)
AFTER = dt.datetime(2026, 5, 15, 12, tzinfo=dt.UTC)
FINANCE_URL = "https://finance.test"
IMPORT_URL = f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice"


@pytest.fixture
def emulator():
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=AFTER)) as running:
        yield running


@pytest.fixture
def paged_emulator():
    """600 droplets: three pages at the client's per_page=200."""
    with run_emulator(generate_account(droplets=600, seed=11), period=PERIOD, clock=AFTER) as em:
        yield em


class Sleeps(list):
    """Stands in for time.sleep in the DigitalOcean client: records each wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_of(emulator, sleeps: Sleeps | None = None, **kwargs) -> DigitalOceanClient:
    return DigitalOceanClient(
        emulator.base_url,
        emulator.token,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **kwargs,
    )


def live_droplets() -> set[str]:
    return set(
        CloudResource.objects.filter(kind="droplet", deleted_at__isnull=True).values_list(
            "provider_id", flat=True
        )
    )


def assert_untouched(before: set[str]) -> None:
    """Every droplet still live, none struck: a failed listing deletes nothing."""
    assert live_droplets() == before
    assert not CloudResource.objects.filter(stale_strike_count__gt=0).exists()
    assert not CloudResourceEvent.objects.filter(type="deleted").exists()


# -- DigitalOcean: rate limits, server errors, timeouts, garbage ------------------------------


@pytest.mark.django_db
def test_a_429_storm_is_waited_out_honouring_retry_after(emulator):
    sync_target("droplet", client=client_of(emulator), now=AFTER)
    before = live_droplets()
    storm = emulator.faults.add(path_prefix="/v2/droplets", status=429, retry_after=2, times=4)
    sleeps = Sleeps()

    result = sync_target("droplet", client=client_of(emulator, sleeps), now=AFTER)

    assert storm.fired == 4
    assert sleeps == [2, 2, 2, 2]  # the server's Retry-After, not our own backoff
    assert result.listed == len(before)
    assert_untouched(before)


@pytest.mark.django_db
def test_an_endless_429_storm_gives_up_within_the_wait_budget_and_deletes_nothing(emulator):
    sync_target("droplet", client=client_of(emulator), now=AFTER)
    before = live_droplets()
    emulator.faults.add(path_prefix="/v2/droplets", status=429, retry_after=7, every=True)

    for _ in range(3):  # three failed syncs: three strikes, were strikes counted
        sleeps = Sleeps()
        with pytest.raises(DORateLimited):
            sync_target("droplet", client=client_of(emulator, sleeps, max_total_wait=20), now=AFTER)
        assert sum(sleeps) <= 20

    assert_untouched(before)


@pytest.mark.django_db
def test_a_500_mid_pagination_fails_the_sync_and_tombstones_nothing(paged_emulator):
    client = client_of(paged_emulator, max_retries=2)
    sync_target("droplet", client=client, now=AFTER)
    before = live_droplets()
    assert len(before) == 600
    paged_emulator.faults.add(path_prefix="/v2/droplets", page=2, status=500, every=True)

    for _ in range(3):
        with pytest.raises(DOServerError):
            sync_target("droplet", client=client, now=AFTER)

    assert_untouched(before)
    paged_emulator.faults.clear()
    assert sync_target("droplet", client=client, now=AFTER).listed == 600


@pytest.mark.django_db
def test_a_page_slower_than_the_client_timeout_is_retried_then_gives_up_cleanly(paged_emulator):
    client = client_of(paged_emulator, timeout=(2, 0.3), max_retries=2)
    sync_target("droplet", client=client, now=AFTER)
    before = live_droplets()

    once = paged_emulator.faults.add(path_prefix="/v2/droplets", page=3, delay=1.0)
    assert sync_target("droplet", client=client, now=AFTER).listed == 600  # retried
    assert once.fired == 1

    paged_emulator.faults.add(path_prefix="/v2/droplets", page=3, delay=1.0, every=True)
    with pytest.raises(DOServerError, match="timeout"):
        sync_target("droplet", client=client, now=AFTER)
    assert_untouched(before)


@pytest.mark.parametrize(
    "body",
    [
        "<html>upstream exploded</html>",
        '{"droplets": "not a list", "links": {}}',
        '{"links": {}}',
    ],
    ids=["html", "not-a-list", "missing-key"],
)
@pytest.mark.django_db
def test_a_garbage_payload_fails_the_sync_and_tombstones_nothing(emulator, body):
    sync_target("droplet", client=client_of(emulator), now=AFTER)
    before = live_droplets()
    emulator.faults.add(path_prefix="/v2/droplets", status=200, body=body, every=True)

    for _ in range(3):
        with pytest.raises(DOBadPayload):
            sync_target("droplet", client=client_of(emulator), now=AFTER)

    assert_untouched(before)


@pytest.mark.django_db
def test_items_the_spec_would_not_produce_are_logged_and_skipped_and_strike_nothing(
    emulator, caplog
):
    sync_target("droplet", client=client_of(emulator), now=AFTER)
    before = live_droplets()
    body = '{"droplets": [{"unexpected": true}, {"id": 7, "image": "x"}], "links": {}}'
    emulator.faults.add(path_prefix="/v2/droplets", status=200, body=body, every=True)

    for _ in range(3):
        result = sync_target("droplet", client=client_of(emulator), now=AFTER)
        assert (result.skipped, result.listed, result.stale.struck) == ("", 0, 0)

    assert "item None is not what DigitalOcean's API describes" in caplog.text
    assert "item 7 is not what DigitalOcean's API describes" in caplog.text
    assert_untouched(before)


# -- DigitalOcean invoices: a failed fetch keeps the previous line set --------------------------


def _ingested(emulator) -> CloudInvoice:
    client = client_of(emulator)
    billing_history_sync(client=client)
    invoice = CloudInvoice.objects.get()
    invoice_ingest(invoice=invoice, client=client, push_to_finance=False)
    return invoice


def _line_set(invoice: CloudInvoice) -> list[tuple]:
    return list(
        CloudCostLine.objects.filter(invoice=invoice)
        .order_by("line_number")
        .values_list("pk", "line_number", "description", "amount")
    )


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 503, "every": True}, DOServerError),
        ({"delay": 1.0, "every": True}, DOServerError),
        (
            {"status": 200, "body": "product,USD\nDroplets,$6.00\n", "every": True},
            InvoiceUnreadable,
        ),
    ],
    ids=["server-error", "timeout", "malformed-csv"],
)
@pytest.mark.django_db
def test_an_invoice_ingest_that_fails_keeps_the_old_lines(emulator, fault, error):
    invoice = _ingested(emulator)
    lines = _line_set(invoice)
    assert len(lines) > 3
    emulator.faults.add(
        path_prefix=f"/v2/customers/my/invoices/{invoice.invoice_uuid}/csv", **fault
    )

    with pytest.raises(error):
        invoice_ingest(
            invoice=invoice,
            client=client_of(emulator, timeout=(2, 0.3), max_retries=1),
            push_to_finance=False,
        )

    invoice.refresh_from_db()
    assert _line_set(invoice) == lines  # the very same rows, not a re-insert
    assert invoice.line_count == len(lines)
    assert "previous lines kept" in invoice.last_error

    emulator.faults.clear()
    invoice_ingest(invoice=invoice, client=client_of(emulator), push_to_finance=False)
    invoice.refresh_from_db()
    assert invoice.last_error == ""
    assert [line[1:] for line in _line_set(invoice)] == [line[1:] for line in lines]


# -- Finance down, then back ---------------------------------------------------------------------


@pytest.fixture
def finance(settings):
    settings.FINANCE_URL = FINANCE_URL
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru("http://127.0.0.1")  # the emulator
        yield mock


@pytest.fixture
def retries_like_a_worker(monkeypatch):
    """Eager tasks retry in-process only when exceptions do not propagate (as on a worker)."""
    monkeypatch.setitem(push_to_finance.app.conf, "task_eager_propagates", False)


@pytest.mark.django_db
def test_finance_down_then_back_gets_the_invoice_exactly_once(
    emulator, finance, retries_like_a_worker, django_capture_on_commit_callbacks
):
    finance.post(IMPORT_URL, status=503, body="maintenance")
    finance.post(IMPORT_URL, status=503, body="maintenance")
    finance.post(IMPORT_URL, json={"status": "created", "id": "fin-42"})
    client = client_of(emulator)
    billing_history_sync(client=client)
    invoice = CloudInvoice.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        invoice_ingest(invoice=invoice, client=client)  # queues the push after commit

    invoice.refresh_from_db()
    assert len(finance.calls) == 3
    assert (invoice.finance_invoice_id, invoice.finance_status) == ("fin-42", "created")
    pushed_at = invoice.pushed_to_finance_at
    assert pushed_at is not None
    assert invoice.last_error == ""
    sent = [json.loads(call.request.body) for call in finance.calls]
    assert all(body == sent[0] for body in sent)  # the same payload each time
    keys = {call.request.headers["Idempotency-Key"] for call in finance.calls}
    assert len(keys) == 1  # so a finance that saw a "failed" one dedups it

    # The daily history sync and a re-ingest of the unchanged file push nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        invoice_ingest(invoice=invoice, client=client)
    assert push_to_finance.delay(invoice.invoice_uuid).get()["status"] == "unchanged"
    invoice.refresh_from_db()
    assert len(finance.calls) == 3
    assert invoice.pushed_to_finance_at == pushed_at


# -- The database refuses one tenant's invoice mid-rollup ---------------------------------------

# Refuses tenant-b's invoice lines: its invoice header is already written when the database
# says no, so the test also proves that header is rolled back with them.
FAIL_TENANT_B = """
CREATE FUNCTION reliability_refuse_tenant_b() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT tenant_id FROM tenant_invoices WHERE id = NEW.invoice_id) = 'tenant-b' THEN
        RAISE EXCEPTION 'injected fault: no invoice lines for tenant-b';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reliability_refuse_tenant_b BEFORE INSERT ON tenant_invoice_lines
    FOR EACH ROW EXECUTE FUNCTION reliability_refuse_tenant_b();
"""
UNDO_FAIL_TENANT_B = """
DROP TRIGGER reliability_refuse_tenant_b ON tenant_invoice_lines;
DROP FUNCTION reliability_refuse_tenant_b();
"""


@pytest.mark.django_db(transaction=True)
def test_a_rollup_where_the_database_refuses_one_tenant_invoices_the_others_then_recovers():
    if connection.vendor != "postgresql":
        pytest.skip("the fault is a PostgreSQL trigger")
    seed_catalog()
    for tenant in ("tenant-a", "tenant-b", "tenant-c"):
        subscriber(tenant, droplets=1)
    with connection.cursor() as cursor:
        cursor.execute(FAIL_TENANT_B)
    try:
        out, err = StringIO(), StringIO()
        with pytest.raises(CommandError, match="1 tenant"):
            call_command("rollup", "--period", "2026-04", stdout=out, stderr=err)
        assert "FAILED tenant-b" in err.getvalue() and "injected fault" in err.getvalue()
        assert sorted(TenantInvoice.objects.values_list("tenant_id", flat=True)) == [
            "tenant-a",
            "tenant-c",
        ]
        # Nothing half-written for B: no invoice, no line, no event.
        assert not TenantInvoiceLine.objects.filter(invoice__tenant_id="tenant-b").exists()
        assert not TenantInvoiceEvent.objects.filter(invoice__tenant_id="tenant-b").exists()
        written = dict(TenantInvoice.objects.values_list("tenant_id", "total_cents"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(UNDO_FAIL_TENANT_B)

    report = roll_up_period(APRIL)

    outcomes = {result.tenant_id: result.outcome for result in report.results}
    assert outcomes == {
        "tenant-a": RollupOutcome.SKIPPED,
        "tenant-b": RollupOutcome.INVOICED,
        "tenant-c": RollupOutcome.SKIPPED,
    }
    invoices = dict(TenantInvoice.objects.values_list("tenant_id", "total_cents"))
    assert {t: invoices[t] for t in written} == written  # A and C untouched
    assert invoices["tenant-b"] == invoices["tenant-a"]  # same plan, same usage
    assert TenantInvoiceLine.objects.filter(invoice__tenant_id="tenant-b").count() == (
        TenantInvoiceLine.objects.filter(invoice__tenant_id="tenant-a").count()
    )


# -- A worker killed mid-task; the task is redelivered to another worker --------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_worker_is_killed_mid_task_is_redelivered_and_done_once(tmp_path: Path):
    """`inventory.sync` is acks_late: a worker killed mid-task never acknowledges it, so Redis
    hands it to the next worker once the visibility timeout passes. The projects sync had
    already created `skyai-internal` at DigitalOcean when its worker died; the rerun must find
    it, not create a second one, and attribute every resource once."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker needs the PostgreSQL test database")
    with (
        run_emulator(DigitalOceanEmulator(period=PERIOD, clock=AFTER)) as emulator,
        redis_server() as broker,
    ):
        for target in SYNC_TARGETS:
            if target != PROJECTS:
                sync_target(target, client=client_of(emulator), now=AFTER)
        hang = emulator.faults.add(path_prefix="/v2/projects/", delay=30, times=1)
        env = {
            "DATABASE_URL": subprocess_database_url(),
            "DO_API_BASE_URL": emulator.base_url,
            "DO_TOKEN_SYNC": emulator.token,
        }
        log = tmp_path / "workers.log"
        app = Celery(broker=broker, backend=broker, set_as_current=False)
        try:
            with celery_worker(broker, queues="cloud_sync_full", env=env, log=log) as first:
                result = app.send_task("inventory.sync", args=[PROJECTS], queue="cloud_sync_full")
                wait_until(lambda: hang.fired == 1, timeout=60, what="the first worker mid-task")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            assert not CloudProject.objects.filter(name=INTERNAL_PROJECT_NAME).exists()
            creates = [
                r for r in emulator.request_log if (r.method, r.path) == ("POST", "/v2/projects")
            ]
            assert len(creates) == 1  # DigitalOcean did act before the worker died

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
            with celery_worker(broker, queues="cloud_sync_full", env=redelivery, log=log):
                outcome = result.get(timeout=90)
        except Exception:
            print(log.read_text())
            raise
        finally:
            app.close()

    assert outcome["target"] == PROJECTS and outcome["skipped"] == ""
    worker_log = log.read_text()
    assert worker_log.count(f"Task inventory.sync[{result.id}] received") == 2  # redelivered
    assert worker_log.count(f"Task inventory.sync[{result.id}] succeeded") == 1
    creates = [r for r in emulator.request_log if (r.method, r.path) == ("POST", "/v2/projects")]
    assert len(creates) == 1  # found on the rerun, never created twice
    assert CloudProject.objects.filter(name=INTERNAL_PROJECT_NAME).count() == 1
    attributed = CloudResourceEvent.objects.filter(type="attributed")
    assert attributed.exists()
    assert not attributed.values("resource").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert outcome["attribution"]["attributed"] == attributed.count()
