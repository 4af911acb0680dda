"""The monthly rollup task, its schedule, and `manage.py rollup`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arcadia_cloud.celery import app
from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import previous_month
from invoicing.models import TenantInvoice
from invoicing.schedules import SCHEDULES
from invoicing.tasks import roll_up_period
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import meter, seed_catalog, subscriber
from tests.invoicing.invoices.test_rollup import usd_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalog():
    seed_catalog()


def run_rollup(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rollup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_task_rolls_up_the_month_just_ended_by_default():
    last_month = previous_month(utc_today())
    subscriber(TENANT_A, starts_on=last_month)

    result = roll_up_period.delay().get()

    assert result["period_start"] == last_month.isoformat()
    assert result["counts"]["invoiced"] == 1
    assert TenantInvoice.objects.get().period_start == last_month


def test_the_task_takes_a_period_and_is_idempotent():
    subscriber(TENANT_A)

    first = roll_up_period.delay("2026-04").get()
    second = roll_up_period.delay("2026-04-01").get()

    assert (first["counts"]["invoiced"], second["counts"]["skipped"]) == (1, 1)
    assert first["totals_by_currency"] == [
        {
            "currency": "AUD",
            "invoices": 1,
            "subtotal_cents": 5750,
            "tax_cents": 575,
            "total_cents": 6325,
        }
    ]
    assert first["tenants"][0]["outcome"] == "invoiced"


def test_the_task_runs_monthly_on_the_first_at_three_utc_on_the_default_queue():
    spec = next(spec for spec in SCHEDULES if spec.task == "invoicing.roll_up_period")

    assert (spec.minute, spec.hour, spec.day_of_month, spec.queue) == ("0", "3", "1", "default")
    assert app.amqp.router.route({}, "invoicing.roll_up_period")["queue"].name == "default"
    assert {spec.task for spec in SCHEDULES} >= {"invoicing.meter_day", "invoicing.roll_up_period"}


def test_the_command_prints_a_summary_table_and_totals_by_currency():
    subscriber(TENANT_A, droplets=3)
    subscriber(TENANT_B)
    meter()

    out, _ = run_rollup("--period", "2026-04")

    assert "rollup 2026-04: 2 invoiced" in out
    assert TENANT_A in out and "70.64" in out
    assert "AUD       2         121.72    12.17  133.89" in out  # 6422 + 5750, 642 + 575


def test_the_command_reruns_skip_and_force_regenerates_only_the_named_tenant():
    subscriber(TENANT_A)
    subscriber(TENANT_B)
    run_rollup("--period", "2026-04")

    skipped, _ = run_rollup("--period", "2026-04")
    forced, _ = run_rollup("--period", "2026-04", "--force", "--tenant", TENANT_B)

    assert "2 skipped" in skipped
    assert "1 regenerated" in forced and TENANT_A not in forced


def test_the_command_reports_failed_tenants_and_exits_non_zero():
    usd_version()
    subscriber(TENANT_A)
    subscriber(TENANT_A, plan="usd-plan", addons=())
    subscriber(TENANT_B)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="1 tenant"):
        call_command("rollup", "--period", "2026-04", stdout=out, stderr=err)

    assert "1 invoiced" in out.getvalue() and "1 failed" in out.getvalue()
    assert f"FAILED {TENANT_A}: tenant {TENANT_A} has subscriptions in 2 currencies" in (
        err.getvalue()
    )
    assert TenantInvoice.objects.get().tenant_id == TENANT_B


@pytest.mark.parametrize("period", ["2026-4", "april", "2026-04-02"])
def test_the_command_refuses_a_bad_period(period):
    with pytest.raises(CommandError, match="--period"):
        run_rollup("--period", period)


def test_the_command_refuses_a_month_that_is_not_over():
    this_month = utc_today().replace(day=1)

    with pytest.raises(CommandError, match="not over yet"):
        run_rollup("--period", f"{this_month:%Y-%m}")
