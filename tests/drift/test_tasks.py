"""The drift task, its hourly schedule and the detect_drift command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from arcadia_cloud.celery import app
from arcadia_cloud.schedules import declared_schedules
from drift.tasks import detect_all
from tests.drift.factories import make_provisioned

pytestmark = pytest.mark.django_db


def test_the_task_sweeps_and_returns_the_summary():
    make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    result = detect_all.delay().get()
    assert result == {
        "resources": 1,
        "opened": 1,
        "refreshed": 0,
        "unchanged": 0,
        "closed_stale": 0,
    }


def test_the_sweep_is_scheduled_hourly_at_twenty_past_on_the_default_queue():
    [spec] = [spec for spec in declared_schedules() if spec.task == "drift.detect_all"]
    assert (spec.name, spec.minute, spec.hour, spec.queue) == ("drift-detect", "20", "*", "default")
    assert "drift.detect_all" in app.tasks
    assert app.amqp.router.route({}, "drift.detect_all")["queue"].name == "default"


def test_the_command_prints_the_summary():
    make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"})
    out = StringIO()
    call_command("detect_drift", stdout=out)
    assert (
        "1 provisioned resources swept; 1 opened, 0 refreshed, 0 unchanged, 0 closed stale"
        in out.getvalue()
    )
