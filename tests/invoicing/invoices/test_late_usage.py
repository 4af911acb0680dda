"""Late usage (issue 14, item 16): usage recorded for a month whose invoice is already issued is
billed on the tenant's next invoice, once, priced the way its own month would have priced it;
usage older than the horizon is refused."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import arcadia_cloud.settings as project_settings
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import InvalidStateChange
from arcadia_cloud.validation import FieldError
from catalog.selectors import active_version_required
from deployments.services import subscription_change_plan_version
from invoicing.invoices.lifecycle import invoice_issue, invoice_void
from invoicing.invoices.rollup import RollupOutcome, RollupReport, roll_up_period
from invoicing.models import InvoiceStatus, LLMUsageEvent, TenantInvoice, TenantInvoiceLine
from invoicing.pricing_inputs import ALL_TENANTS, load_pricing_inputs
from invoicing.usage.llm_usage import LLMUsageEventInput, llm_usage_events_record
from invoicing.usage.metering import meter_day
from tests.catalog.concurrency import run_concurrently
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import (
    APRIL,
    MARCH,
    at,
    cancel_on,
    llm_charges,
    meter,
    seed_catalog,
    subscriber,
)

pytestmark = pytest.mark.django_db

MAY = dt.date(2026, 5, 1)
URL = "/api/v1/integrations/llm-usage"


@pytest.fixture(autouse=True)
def catalog():
    seed_catalog()


def invoice_of(tenant_id: str, period_start: dt.date) -> TenantInvoice:
    return TenantInvoice.objects.get(tenant_id=tenant_id, period_start=period_start)


def roll_up_and_issue(period_start: dt.date, tenant_id: str = TENANT_A) -> TenantInvoice:
    roll_up_period(period_start)
    return invoice_issue(invoice=invoice_of(tenant_id, period_start), actor="test")


def late_lines(tenant_id: str = TENANT_A) -> list[TenantInvoiceLine]:
    """Every late line of the tenant, on any invoice, in invoice then position order."""
    return list(
        TenantInvoiceLine.objects.filter(invoice__tenant_id=tenant_id, meta__has_key="late_usage")
        .select_related("invoice")
        .order_by("invoice__period_start", "position")
    )


def tokens_event(
    deployment, tokens: int, day: dt.date, n: int, ref: str = ""
) -> LLMUsageEventInput:
    return LLMUsageEventInput(
        ref=ref,
        gateway_request_id=f"tok-{deployment.pk}-{n}",
        deployment_id=deployment.pk,
        tenant_id=deployment.tenant_id,
        model="claude",
        input_tokens=tokens,
        output_tokens=0,
        charge=Decimal(0),
        currency="AUD",
        occurred_at=at(day, 9),
    )


def gateway_event(deployment, charge: str, occurred_at: str, n: int = 1) -> str:
    return json.dumps(
        {
            "gateway_request_id": f"gw-late-{n}",
            "deployment_id": deployment.pk,
            "tenant_id": deployment.tenant_id,
            "model": "claude-sonnet",
            "input_tokens": 1000,
            "output_tokens": 100,
            "charge": charge,
            "currency": "AUD",
            "occurred_at": occurred_at,
        }
    )


# ---------------------------------------------------------------------------------------------
# Passthrough LLM charges
# ---------------------------------------------------------------------------------------------


def test_an_aud_500_event_in_an_issued_month_is_billed_once_on_the_next_invoice(gateway_api):
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=())
    llm_charges(deployment, "1.234", day=dt.date(2026, 3, 5))  # on time: 123.4c -> 123c
    march = roll_up_and_issue(MARCH)

    response = gateway_api.post(
        URL,
        data=gateway_event(deployment, "500.00", "2026-03-20T08:00:00Z"),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content

    roll_up_period(APRIL)
    rerun = roll_up_period(APRIL)
    forced = roll_up_period(APRIL, force=True)

    assert [r.outcome for r in rerun.results] == [RollupOutcome.SKIPPED]
    assert [r.outcome for r in forced.results] == [RollupOutcome.REGENERATED]
    (line,) = late_lines()
    assert (line.invoice.period_start, line.kind, line.amount_cents) == (APRIL, "llm_usage", 50000)
    assert line.description == (
        f"LLM usage of March 2026 received after its invoice {march.number} was issued"
    )
    assert (line.qty, line.unit, line.unit_price_cents) == (Decimal("500"), "AUD", 100)
    assert line.deployment_id == deployment.pk
    assert line.meta["late_usage"]["period"] == "2026-03"
    assert line.meta["late_usage"]["invoice_number"] == march.number
    assert (line.meta["due_cents"], line.meta["billed_before_cents"]) == (50123, 123)
    april = invoice_of(TENANT_A, APRIL)
    assert april.subtotal_cents == 5000 + 50000  # the plan, and March's late usage
    assert april.tax_cents == 5500

    invoice_issue(invoice=april, actor="test")
    roll_up_period(MAY)
    roll_up_period(MAY, force=True)

    assert [line.invoice.period_start for line in late_lines()] == [APRIL]
    assert invoice_of(TENANT_A, MAY).subtotal_cents == 5000
    frozen_march = invoice_of(TENANT_A, MARCH)
    assert (frozen_march.status, frozen_march.subtotal_cents) == (InvoiceStatus.ISSUED, 5123)


def test_usage_that_arrived_while_the_month_was_a_draft_is_billed_late_once_it_is_issued():
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=())
    roll_up_period(MARCH)
    llm_charges(deployment, "2.005", day=dt.date(2026, 3, 31))
    invoice_issue(invoice=invoice_of(TENANT_A, MARCH), actor="test")  # issued without a regenerate

    roll_up_period(APRIL)

    (line,) = late_lines()
    assert (line.invoice.period_start, line.amount_cents) == (APRIL, 201)  # 200.5c, half-up


def test_a_draft_regenerated_by_a_forced_rollup_takes_the_usage_so_nothing_is_late():
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=())
    roll_up_period(MARCH)
    llm_charges(deployment, "7.00", day=dt.date(2026, 3, 31))
    roll_up_period(MARCH, force=True)
    march = invoice_issue(invoice=invoice_of(TENANT_A, MARCH), actor="test")

    roll_up_period(APRIL)

    assert march.lines.get(kind="llm_usage").amount_cents == 700
    assert late_lines() == []


def test_late_lines_of_a_voided_invoice_are_billed_again_on_the_following_one():
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=())
    roll_up_and_issue(MARCH)
    llm_charges(deployment, "500.00", day=dt.date(2026, 3, 20))
    roll_up_period(APRIL)
    invoice_void(invoice=invoice_of(TENANT_A, APRIL), actor="test", reason="wrong address")

    roll_up_period(MAY)

    billed = [
        (line.invoice.period_start, line.invoice.status, line.amount_cents) for line in late_lines()
    ]
    assert billed == [(APRIL, InvoiceStatus.VOID, 50000), (MAY, InvoiceStatus.DRAFT, 50000)]


def test_a_tenant_with_only_late_usage_gets_an_invoice_for_it():
    """Cancelled at the end of March, no subscription in April: its late March usage would
    have no invoice to go on, so April's rollup writes one with the late line and tax only."""
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=())
    cancel_on(deployment, dt.date(2026, 3, 31))
    roll_up_and_issue(MARCH)
    llm_charges(deployment, "12.34", day=dt.date(2026, 3, 30))

    report = roll_up_period(APRIL)

    assert [(r.tenant_id, r.outcome) for r in report.results] == [
        (TENANT_A, RollupOutcome.INVOICED)
    ]
    april = invoice_of(TENANT_A, APRIL)
    assert [(line.kind, line.amount_cents) for line in april.lines.order_by("position")] == [
        ("llm_usage", 1234),
        ("tax", 123),
    ]
    assert april.events.get().details["subscription_ids"] == []
    assert roll_up_period(MAY).results == ()  # nothing more to bill: no invoice for May


# ---------------------------------------------------------------------------------------------
# Plan-mode tokens and metered usage: priced on the month's own terms
# ---------------------------------------------------------------------------------------------


def test_late_plan_tokens_use_what_is_left_of_the_months_allowance_and_never_get_it_twice():
    """Studio includes 1,000,000 tokens, then 1c per 1k. March used 900k on time: no overage.
    300k more arrive late: 200k are over the allowance (200c), not 300k. 50k more arrive in May:
    all over it (50c)."""
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=(), llm_mode="plan")
    llm_usage_events_record(events=[tokens_event(deployment, 900_000, dt.date(2026, 3, 3), 1)])
    march = roll_up_and_issue(MARCH)
    assert not march.lines.filter(kind="overage").exists()
    llm_usage_events_record(events=[tokens_event(deployment, 300_000, dt.date(2026, 3, 28), 2)])

    roll_up_and_issue(APRIL)
    llm_usage_events_record(events=[tokens_event(deployment, 50_000, dt.date(2026, 3, 29), 3)])
    roll_up_period(MAY)

    lines = late_lines()
    assert [
        (line.invoice.period_start, line.kind, line.qty, line.amount_cents) for line in lines
    ] == [
        (APRIL, "overage", Decimal("200"), 200),
        (MAY, "overage", Decimal("50"), 50),
    ]
    assert lines[0].unit == "1k_tokens" and lines[0].unit_price_cents == 1
    assert lines[0].description == (
        f"LLM tokens of March 2026 received after its invoice {march.number} was issued"
    )
    assert lines[1].meta["used_now"] == "1250000"


def test_a_metered_backfill_of_an_invoiced_month_appears_on_the_next_invoice():
    """Three droplets; March was invoiced with its first ten days metered (720 h, inside the
    1,488 h allowance). `manage.py meter` backfills the rest: 2,232 h, so 744 h over at 1c."""
    subscriber(TENANT_A, starts_on=MARCH, addons=(), droplets=3)
    meter(MARCH, dt.date(2026, 3, 10))
    march = roll_up_and_issue(MARCH)
    assert march.subtotal_cents == 5000

    call_command("meter", "--from", "2026-03-11", "--to", "2026-03-31", stdout=StringIO())
    roll_up_period(APRIL)
    call_command("meter", "--from", "2026-03-11", "--to", "2026-03-31", stdout=StringIO())
    roll_up_period(APRIL, force=True)

    (line,) = late_lines()
    assert (line.invoice.period_start, line.kind, line.resource_kind) == (
        APRIL,
        "overage",
        "droplet_hours",
    )
    assert (line.qty, line.unit, line.unit_price_cents, line.amount_cents) == (
        Decimal("744"),
        "hour",
        1,
        744,
    )
    assert line.description == (
        f"Droplet hours of March 2026 received after its invoice {march.number} was issued"
    )
    assert line.meta["priced_as"]["allowance"] == "1488"


def test_late_usage_is_priced_on_the_terms_the_month_was_invoiced_with():
    """The March invoice named studio; the subscription has moved to pro since. The late
    tokens are priced on studio's allowance and overage, as March would have priced them."""
    deployment = subscriber(TENANT_A, starts_on=MARCH, addons=(), llm_mode="plan")
    llm_usage_events_record(events=[tokens_event(deployment, 1_000_000, dt.date(2026, 3, 3), 1)])
    roll_up_and_issue(MARCH)
    subscription_change_plan_version(
        subscription=deployment.subscription, version=active_version_required("pro"), actor="t"
    )
    llm_usage_events_record(events=[tokens_event(deployment, 10_000, dt.date(2026, 3, 30), 2)])

    roll_up_period(APRIL)

    (line,) = late_lines()
    assert (line.qty, line.amount_cents) == (Decimal("10"), 10)  # pro would include it


# ---------------------------------------------------------------------------------------------
# The horizon
# ---------------------------------------------------------------------------------------------


def test_the_horizon_defaults_to_62_days():
    assert project_settings.LATE_USAGE_HORIZON_DAYS == 62


@pytest.mark.parametrize("days_ago", [63, 365 * 6])  # just beyond; an event dated 2020
def test_an_event_older_than_the_horizon_is_refused_422_naming_occurred_at(
    gateway_api, settings, days_ago
):
    settings.LATE_USAGE_HORIZON_DAYS = 62
    deployment = subscriber(TENANT_A, addons=())
    old = (timezone.now() - dt.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = gateway_api.post(
        URL, data=gateway_event(deployment, "500.00", old), content_type="application/json"
    )

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["occurred_at"]
    assert "LATE_USAGE_HORIZON_DAYS" in error["fields"]["occurred_at"][0]
    assert not LLMUsageEvent.objects.exists()


def test_inside_the_horizon_an_event_is_accepted_and_a_recorded_one_stays_a_duplicate(
    gateway_api, settings
):
    settings.LATE_USAGE_HORIZON_DAYS = 62
    deployment = subscriber(TENANT_A, addons=())
    recent = (timezone.now() - dt.timedelta(days=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = gateway_event(deployment, "1.00", recent)

    assert gateway_api.post(URL, data=body, content_type="application/json").status_code == 201
    settings.LATE_USAGE_HORIZON_DAYS = 30
    repeat = gateway_api.post(URL, data=body, content_type="application/json")

    assert repeat.status_code == 200, repeat.content  # a gateway retry is acknowledged
    assert repeat.json()["duplicates"] == 1


def test_a_batch_with_one_event_beyond_the_horizon_writes_nothing(settings):
    settings.LATE_USAGE_HORIZON_DAYS = 62
    deployment = subscriber(TENANT_A, addons=())
    today = utc_today()
    events = [
        tokens_event(deployment, 10, today, 1, ref="events[0]"),
        tokens_event(deployment, 10, today - dt.timedelta(days=70), 2, ref="events[1]"),
    ]

    with pytest.raises(InvalidStateChange) as caught:
        llm_usage_events_record(events=events)

    assert list(caught.value.fields) == ["events[1].occurred_at"]
    assert not LLMUsageEvent.objects.exists()


def test_metering_a_day_beyond_the_horizon_is_refused(settings):
    settings.LATE_USAGE_HORIZON_DAYS = 62
    subscriber(TENANT_A, addons=(), droplets=1)
    old_day = utc_today() - dt.timedelta(days=64)

    with pytest.raises(FieldError) as caught:
        meter_day(old_day)
    with pytest.raises(CommandError, match="LATE_USAGE_HORIZON_DAYS"):
        call_command("meter", "--from", old_day.isoformat(), stdout=StringIO())

    assert list(caught.value.fields) == ["day"]
    assert meter_day(old_day, now=at(old_day + dt.timedelta(days=1))).records_created == 1


# ---------------------------------------------------------------------------------------------
# Bounded reads
# ---------------------------------------------------------------------------------------------


def test_loading_late_usage_costs_the_same_queries_for_one_tenant_or_many():
    def build(tenants: list[str]) -> int:
        for tenant in tenants:
            deployment = subscriber(tenant, starts_on=MARCH)
            llm_charges(deployment, "1.00", day=dt.date(2026, 3, 2))
        roll_up_period(MARCH)
        for invoice in TenantInvoice.objects.filter(period_start=MARCH, status="draft"):
            invoice_issue(invoice=invoice, actor="test")
        with CaptureQueriesContext(connection) as queries:
            sources = load_pricing_inputs([], month=APRIL, late_usage_of=ALL_TENANTS).late
        assert set(sources) >= set(tenants)
        return len(queries)

    one = build(["t-one"])
    many = build([f"t-many-{n}" for n in range(6)])

    assert one == many


@pytest.mark.django_db(transaction=True)
def test_two_rollups_of_different_months_bill_the_same_late_usage_once():
    """April's and May's rollups at once, both able to carry March's late usage: the tenant's
    late-usage lock makes the second see what the first billed."""
    deployment = subscriber(TENANT_B, starts_on=MARCH, addons=())
    roll_up_and_issue(MARCH, TENANT_B)
    llm_charges(deployment, "500.00", day=dt.date(2026, 3, 20))

    reports = run_concurrently(lambda: roll_up_period(APRIL), lambda: roll_up_period(MAY))

    assert all(isinstance(report, RollupReport) for report in reports), reports
    assert Counter(r.outcome for report in reports for r in report.results) == {
        RollupOutcome.INVOICED: 2
    }
    assert [line.amount_cents for line in late_lines(TENANT_B)] == [50000]
