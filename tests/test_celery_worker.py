"""A real Celery worker consuming from a real Redis broker (not eager mode)."""

from __future__ import annotations

import pytest
from celery import Celery

from arcadia_cloud.celery import QUEUES
from tests.services import celery_worker, redis_server


@pytest.mark.redis
def test_worker_runs_a_task_sent_through_redis():
    with redis_server() as url, celery_worker(url, queues=",".join(QUEUES)) as worker:
        client = Celery(broker=url, backend=url, set_as_current=False)
        try:
            result = client.send_task("arcadia_cloud.ping", queue="default")
            value = result.get(timeout=60)
        except Exception:
            worker.terminate()
            print(worker.log_path.read_text())
            raise
        finally:
            client.close()
    assert value["pong"] == "ok"
    assert value["worker"]


def test_tasks_run_eagerly_without_a_broker(settings):
    from arcadia_cloud.tasks import ping

    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    assert ping.delay().get()["pong"] == "ok"


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("inventory.sync_droplets", "cloud_sync_full"),
        ("billing.ingest_invoice", "cloud_billing"),
        ("invoicing.meter_day", "metering"),
        ("invoicing.roll_up_period", "default"),
        ("arcadia_cloud.ping", "default"),
    ],
)
def test_tasks_are_routed_to_their_queue(task_name, queue):
    from arcadia_cloud.celery import app

    route = app.amqp.router.route({}, task_name)
    assert route["queue"].name == queue


def test_a_fresh_process_finds_every_task_by_name():
    """`enqueue_on_commit` looks tasks up by name; a process that never imported an app's
    tasks module (a web worker, a command) must still find them (autodiscovery is lazy)."""
    import subprocess
    import sys

    from tests.services import ROOT

    code = (
        "import django; django.setup()\n"
        "from arcadia_cloud.celery import task_named\n"
        "names = ('invoicing.push_receivable', 'billing.push_to_finance')\n"
        "print(*(task_named(name).name for name in names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["invoicing.push_receivable", "billing.push_to_finance"]
