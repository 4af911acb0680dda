"""Metering tasks, their schedules and the `meter` backfill command."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arcadia_cloud.celery import app
from arcadia_cloud.clock import utc_today
from invoicing.models import UsageRecord
from invoicing.schedules import SCHEDULES
from invoicing.tasks import meter_day, meter_purge_expired
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db


def test_the_task_meters_yesterday_by_default():
    make_resource("droplet", deployment=make_deployment(), status="active")
    yesterday = utc_today() - dt.timedelta(days=1)

    result = meter_day.delay().get()

    assert result["day"] == yesterday.isoformat()
    assert result["records_created"] == 1
    assert list(UsageRecord.objects.values_list("period_start", flat=True)) == [at(yesterday)]


def test_the_task_meters_the_day_it_is_given():
    make_resource("droplet", deployment=make_deployment(), status="active")

    assert meter_day.delay("2026-05-03").get()["records_created"] == 1
    assert meter_day.delay("2026-05-03").get()["records_created"] == 0


def test_the_retention_task_runs():
    assert meter_purge_expired.delay().get() == 0


def test_metering_tasks_go_to_the_metering_queue():
    for name in ("invoicing.meter_day", "invoicing.meter_purge_expired"):
        assert app.amqp.router.route({}, name)["queue"].name == "metering"


def test_daily_metering_is_scheduled_at_0110_utc():
    daily = next(spec for spec in SCHEDULES if spec.name == "metering-daily")

    assert (daily.task, daily.minute, daily.hour, daily.queue, daily.kwargs) == (
        "invoicing.meter_day",
        "10",
        "1",
        "metering",
        {},
    )
    assert {spec.task for spec in SCHEDULES} <= set(app.tasks)


def test_the_command_backfills_a_range_with_a_line_per_day():
    deployment = make_deployment()
    make_resource("droplet", deployment=deployment, status="active")
    make_resource("volume", deployment=deployment, attrs={"size_gb": None})
    out = StringIO()

    call_command("meter", "--from", "2026-05-01", "--to", "2026-05-03", stdout=out)
    call_command("meter", "--from", "2026-05-03", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "2026-05-01: 2 resources, 1 usage records created, 0 already metered, "
        "1 skipped (size_gb unknown); measured usage: 0 records created, "
        "1 skipped (1 public_outbound_gb: no measurement yet)"
    )
    assert len(lines) == 6
    assert lines[3].startswith("Metered 3 day(s) 2026-05-01 to 2026-05-03: 3 usage records")
    assert lines[4].startswith("2026-05-03: 2 resources, 0 usage records created, 1 already")
    assert UsageRecord.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "not a date"),
        (["--from", "2026-05-03", "--to", "2026-05-01"], "before --from"),
        (["--from", "2026-05-01", "--to", "today"], "not a date"),
    ],
)
def test_the_command_refuses_bad_ranges(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("meter", *args)


def test_the_command_refuses_days_that_are_not_complete_yet():
    with pytest.raises(CommandError, match="not a complete UTC day"):
        call_command("meter", "--from", utc_today().isoformat())
