"""Month-end rollup (SPEC §13): invoices priced by the quote engine, to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud.clock import utc_today
from arcadia_cloud.validation import FieldError
from catalog.models import PlanVersion, ResourcePrice
from catalog.services import plan_version_create, plan_version_publish
from deployments.models import Subscription
from deployments.services import deployment_transition, subscription_change_plan_version
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.rollup import RollupOutcome, roll_up_period
from invoicing.models import (
    InvoiceEventType,
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceEvent,
    TenantInvoiceLine,
)
from invoicing.usage.llm_usage import LLMUsageEventInput, llm_usage_events_record
from tests.catalog.factories import item, make_plan
from tests.conftest import TENANT_A, TENANT_B
from tests.inventory.factories import make_resource
from tests.invoicing.factories import (
    APRIL,
    APRIL_END,
    MARCH,
    add_usage,
    at,
    cancel_on,
    llm_charges,
    meter,
    seed_catalog,
    subscriber,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalog():
    seed_catalog()


def invoice_of(tenant_id: str, period_start: dt.date = APRIL) -> TenantInvoice:
    return TenantInvoice.objects.get(tenant_id=tenant_id, period_start=period_start)


def lines_of(invoice: TenantInvoice) -> list[tuple[str, str | None, int]]:
    return [
        (line.kind, line.resource_kind, line.amount_cents)
        for line in invoice.lines.order_by("position")
    ]


# ---------------------------------------------------------------------------------------------
# SPEC §17 example 2
# ---------------------------------------------------------------------------------------------


def test_spec_example_2_april_studio_with_storage_and_three_droplets():
    deployment = subscriber(TENANT_A, droplets=3)
    meter()

    report = roll_up_period(APRIL)

    invoice = invoice_of(TENANT_A)
    assert [r.outcome for r in report.results] == [RollupOutcome.INVOICED]
    assert lines_of(invoice) == [
        ("plan_base", None, 5000),
        ("addon", "spaces_gb_month", 750),
        ("overage", "droplet_hours", 672),
        ("tax", None, 642),
    ]
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (6422, 642, 7064)
    assert (invoice.currency, invoice.status, invoice.number) == ("AUD", "draft", None)
    assert (invoice.period_start, invoice.period_end) == (APRIL, APRIL_END)
    overage = invoice.lines.get(kind="overage")
    assert overage.deployment_id == deployment.pk
    assert overage.subscription_id == deployment.subscription.pk
    assert overage.qty == 672
    assert overage.meta["used"] == "2160" and overage.meta["allowance"] == "1488"
    tax = invoice.lines.get(kind="tax")
    assert (tax.deployment_id, tax.subscription_id, tax.description) == (None, None, "GST 10%")
    assert tax.meta["exact_cents"] == "642.2"
    assert report.totals_by_currency()[0].total_cents == 7064


def test_a_rerun_without_force_skips_and_changes_nothing():
    subscriber(TENANT_A, droplets=3)
    meter()
    roll_up_period(APRIL)
    first = invoice_of(TENANT_A)

    again = roll_up_period(APRIL)

    assert [(r.tenant_id, r.outcome) for r in again.results] == [(TENANT_A, RollupOutcome.SKIPPED)]
    assert again.results[0].total_cents == 7064
    assert TenantInvoice.objects.count() == 1
    assert invoice_of(TENANT_A).generated_at == first.generated_at
    assert TenantInvoiceEvent.objects.filter(type=InvoiceEventType.GENERATED).count() == 1


def test_the_generated_event_records_actor_and_totals():
    subscriber(TENANT_A)

    roll_up_period(APRIL, actor="ops:alice")

    event = invoice_of(TENANT_A).events.get()
    assert (event.type, event.actor) == ("generated", "ops:alice")
    assert event.details["total_cents"] == event.details["subtotal_cents"] + 575


# ---------------------------------------------------------------------------------------------
# Proration
# ---------------------------------------------------------------------------------------------


def test_a_start_on_the_20th_pays_11_of_30_days_of_the_recurring_lines():
    subscriber(TENANT_A, starts_on=dt.date(2026, 4, 20))

    roll_up_period(APRIL)

    invoice = invoice_of(TENANT_A)
    # 5000 x 11/30 = 1833.33 → 1833; 750 x 11/30 = 275
    assert lines_of(invoice) == [
        ("plan_base", None, 1833),
        ("addon", "spaces_gb_month", 275),
        ("tax", None, 211),
    ]
    base = invoice.lines.get(kind="plan_base")
    assert base.meta["fraction"] == "11/30"
    assert base.meta["full_amount_cents"] == 5000
    assert (base.qty, base.unit_price_cents) == (1, 5000)


def test_a_cancellation_on_the_10th_pays_10_of_30_days_the_cancel_day_included():
    deployment = subscriber(TENANT_A, starts_on=MARCH)
    cancel_on(deployment, dt.date(2026, 4, 10))

    roll_up_period(APRIL)

    # 5000 x 10/30 = 1666.67 → 1667; 750 x 10/30 = 250; GST 191.7 → 192
    assert lines_of(invoice_of(TENANT_A)) == [
        ("plan_base", None, 1667),
        ("addon", "spaces_gb_month", 250),
        ("tax", None, 192),
    ]


def test_a_start_and_a_cancellation_in_the_same_month():
    deployment = subscriber(TENANT_A, starts_on=dt.date(2026, 4, 20))
    cancel_on(deployment, dt.date(2026, 4, 25))

    roll_up_period(APRIL)

    base = invoice_of(TENANT_A).lines.get(kind="plan_base")
    assert (base.amount_cents, base.meta["fraction"]) == (1000, "6/30")


def test_a_subscription_cancelled_before_the_period_is_not_billed():
    deployment = subscriber(TENANT_A, starts_on=MARCH)
    cancel_on(deployment, dt.date(2026, 3, 31))

    report = roll_up_period(APRIL)

    assert report.results == ()
    assert not TenantInvoice.objects.exists()


def test_a_paused_subscription_still_pays_its_whole_plan_fee():
    deployment = subscriber(TENANT_A, starts_on=MARCH)
    deployment_transition(deployment=deployment, to_state="paused", actor="t", by_tenant=True)

    roll_up_period(APRIL)

    base = invoice_of(TENANT_A).lines.get(kind="plan_base")
    assert base.amount_cents == 5000
    assert base.meta["subscription_status"] == "paused"


def test_suspended_and_past_due_deployments_are_billed_normally():
    for state in ("suspended", "past_due"):
        deployment = subscriber(f"tenant-{state}", starts_on=MARCH)
        deployment_transition(deployment=deployment, to_state=state, actor="t", by_tenant=False)

    roll_up_period(APRIL)

    assert sorted(TenantInvoice.objects.values_list("subtotal_cents", flat=True)) == [5750, 5750]


# ---------------------------------------------------------------------------------------------
# Money rules
# ---------------------------------------------------------------------------------------------


def test_passthrough_llm_charges_are_summed_exactly_then_rounded_once():
    deployment = subscriber(TENANT_A)
    llm_charges(deployment, "0.004", "0.004", "0.004")  # each rounds to 0c; the sum to 1c

    roll_up_period(APRIL)

    line = invoice_of(TENANT_A).lines.get(kind="llm_usage")
    assert line.amount_cents == 1
    assert (line.qty, line.unit, line.unit_price_cents) == (Decimal("0.012"), "AUD", 100)
    assert line.meta["exact_cents"] == "1.2"
    assert line.deployment_id == deployment.pk


def test_llm_events_of_plan_mode_deployments_are_priced_by_the_plan_not_passed_through():
    deployment = subscriber(TENANT_A, llm_mode="plan")
    llm_charges(deployment, "5.00")  # metered as 15 llm_tokens, within the allowance

    roll_up_period(APRIL)

    assert not invoice_of(TENANT_A).lines.filter(kind="llm_usage").exists()
    assert invoice_of(TENANT_A).subtotal_cents == 5750


def test_gst_rounds_an_exact_half_cent_up():
    deployment = subscriber(TENANT_A)
    add_usage(deployment, "droplet_hours", 1488 + 675)  # 675c overage: subtotal 6425

    roll_up_period(APRIL)

    invoice = invoice_of(TENANT_A)
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (6425, 643, 7068)
    assert invoice.lines.get(kind="tax").meta["exact_cents"] == "642.5"


def test_tax_rate_and_label_come_from_settings(settings):
    settings.INVOICE_TAX_RATE = "0.15"
    settings.INVOICE_TAX_LABEL = "VAT"
    subscriber(TENANT_A)

    roll_up_period(APRIL)

    tax = invoice_of(TENANT_A).lines.get(kind="tax")
    assert (tax.description, tax.amount_cents) == ("VAT 15%", 863)  # 5750 x 0.15 = 862.5


def test_usage_the_plan_does_not_cover_is_list_priced_and_tagged():
    deployment = subscriber(TENANT_A)
    add_usage(deployment, "volume_gb_month", "100")

    roll_up_period(APRIL)

    line = invoice_of(TENANT_A).lines.get(kind="usage")
    assert (line.resource_kind, line.amount_cents, line.unit_price_cents) == (
        "volume_gb_month",
        1500,
        15,
    )
    assert line.meta["priced_by"] == "resource_price"
    assert line.deployment_id == deployment.pk


def test_unpriced_usage_is_a_zero_line_and_a_warning_never_dropped():
    deployment = subscriber(TENANT_A, plan="starter", addons=())
    add_usage(deployment, "llm_tokens", 5000)  # starter has no llm item and there is no price

    report = roll_up_period(APRIL)

    line = invoice_of(TENANT_A).lines.get(resource_kind="llm_tokens")
    assert (line.amount_cents, line.meta["unpriced"]) == (0, True)
    assert report.results[0].warnings and "llm_tokens" in report.results[0].warnings[0]


def test_a_newly_metered_kind_is_priced_at_its_seed_list_price():
    """Issue 17: a managed database's node hours are metered and priced by the fallback
    resource price the seed gives the new kind (3 cents a node-hour)."""
    deployment = subscriber(TENANT_A, plan="starter", addons=())
    make_resource("managed_db", deployment=deployment, status="online", attrs={"num_nodes": 2})
    meter()

    roll_up_period(APRIL)

    line = invoice_of(TENANT_A).lines.get(resource_kind="database_node_hours")
    assert (line.qty, line.amount_cents) == (2 * 24 * 30, 2 * 24 * 30 * 3)


def test_a_metered_kind_without_any_price_is_an_unpriced_zero_line():
    deployment = subscriber(TENANT_A, plan="starter", addons=())
    make_resource("app", deployment=deployment, status="active", attrs={"instance_count": 1})
    meter()
    ResourcePrice.objects.filter(resource_kind="app_instance_hours").delete()

    report = roll_up_period(APRIL)

    line = invoice_of(TENANT_A).lines.get(resource_kind="app_instance_hours")
    assert (line.amount_cents, line.meta["unpriced"]) == (0, True)
    assert any("app_instance_hours" in warning for warning in report.results[0].warnings)


def test_one_invoice_per_tenant_with_every_deployment_tagged():
    first = subscriber(TENANT_A, droplets=3)
    second = subscriber(TENANT_A, plan="starter", addons=())
    other = subscriber(TENANT_B)
    meter()

    report = roll_up_period(APRIL)

    assert len(report.invoiced) == 2
    invoice = invoice_of(TENANT_A)
    tagged = set(invoice.lines.exclude(kind="tax").values_list("deployment_id", flat=True))
    assert tagged == {first.pk, second.pk}
    assert invoice.subtotal_cents == 6422 + 2000
    assert invoice.lines.filter(kind="tax").count() == 1
    assert not invoice.lines.filter(deployment=other).exists()
    positions = list(invoice.lines.values_list("position", flat=True))
    assert positions == list(range(1, len(positions) + 1))


def test_only_the_tenants_asked_for_are_rolled_up():
    subscriber(TENANT_A)
    subscriber(TENANT_B)

    report = roll_up_period(APRIL, tenant_ids=[TENANT_B, "nobody"])

    assert [(r.tenant_id, r.outcome) for r in report.results] == [
        ("nobody", RollupOutcome.NOTHING_TO_BILL),
        (TENANT_B, RollupOutcome.INVOICED),
    ]
    assert list(TenantInvoice.objects.values_list("tenant_id", flat=True)) == [TENANT_B]


def test_a_month_that_is_not_over_cannot_be_rolled_up():
    with pytest.raises(FieldError) as caught:
        roll_up_period(utc_today().replace(day=1))
    assert "period" in caught.value.fields

    with pytest.raises(FieldError):
        roll_up_period(dt.date(2026, 4, 2))


# ---------------------------------------------------------------------------------------------
# force
# ---------------------------------------------------------------------------------------------


def test_force_regenerates_drafts_and_leaves_issued_invoices_untouched():
    a = subscriber(TENANT_A)
    b = subscriber(TENANT_B)
    roll_up_period(APRIL)
    issued = invoice_issue(invoice=invoice_of(TENANT_B), actor="t")
    frozen_lines = lines_of(issued)
    add_usage(a, "droplet_hours", 1488 + 100)
    add_usage(b, "droplet_hours", 1488 + 100)

    report = roll_up_period(APRIL, force=True, actor="ops:bob")

    assert [(r.tenant_id, r.outcome) for r in report.results] == [
        (TENANT_A, RollupOutcome.REGENERATED),
        (TENANT_B, RollupOutcome.LEFT_ALONE),
    ]
    assert report.left_alone[0].reason == "already issued"
    regenerated = invoice_of(TENANT_A)
    assert regenerated.subtotal_cents == 5850
    assert regenerated.lines.filter(kind="overage").count() == 1
    event = regenerated.events.get(type=InvoiceEventType.REGENERATED)
    assert event.actor == "ops:bob"
    assert event.details["previous"]["subtotal_cents"] == 5750
    assert event.details["previous"]["lines"] == 3
    untouched = invoice_of(TENANT_B)
    assert (untouched.status, untouched.subtotal_cents) == (InvoiceStatus.ISSUED, 5750)
    assert lines_of(untouched) == frozen_lines


# ---------------------------------------------------------------------------------------------
# Failures are per tenant
# ---------------------------------------------------------------------------------------------


def usd_version() -> PlanVersion:
    version = plan_version_create(
        plan=make_plan("usd-plan"),
        base_price_cents=3000,
        currency="USD",
        items=(item("droplet_hours", 744, 1),),
        actor="t",
    )
    plan_version_publish(version=version, actor="t")
    return version


def test_a_tenant_in_two_currencies_fails_alone_and_succeeds_once_fixed():
    usd_version()
    subscriber(TENANT_A)
    stray = subscriber(TENANT_A, plan="usd-plan", addons=())
    subscriber(TENANT_B)

    report = roll_up_period(APRIL)

    assert [(r.tenant_id, r.outcome) for r in report.results] == [
        (TENANT_A, RollupOutcome.FAILED),
        (TENANT_B, RollupOutcome.INVOICED),
    ]
    assert "2 currencies" in report.failed[0].reason
    assert "USD: " + stray.slug in report.failed[0].reason
    assert not TenantInvoice.objects.filter(tenant_id=TENANT_A).exists()
    assert not TenantInvoiceLine.objects.filter(invoice__tenant_id=TENANT_A).exists()

    starter = PlanVersion.objects.get(plan__code="starter", status="active")
    subscription_change_plan_version(
        subscription=Subscription.objects.get(deployment=stray), version=starter, actor="ops"
    )
    retry = roll_up_period(APRIL)

    assert [(r.tenant_id, r.outcome) for r in retry.results] == [
        (TENANT_A, RollupOutcome.INVOICED),
        (TENANT_B, RollupOutcome.SKIPPED),
    ]
    assert invoice_of(TENANT_A).subtotal_cents == 5750 + 2000


def test_llm_charges_in_another_currency_fail_that_tenant_only():
    deployment = subscriber(TENANT_A)
    subscriber(TENANT_B)
    llm_usage_events_record(
        events=[
            LLMUsageEventInput(
                ref="",
                gateway_request_id="usd-1",
                deployment_id=deployment.pk,
                tenant_id=TENANT_A,
                model="claude",
                input_tokens=1,
                output_tokens=1,
                charge=Decimal("0.5"),
                currency="USD",
                occurred_at=at(APRIL, 9),
            )
        ]
    )

    report = roll_up_period(APRIL)

    assert [r.outcome for r in report.results] == [RollupOutcome.FAILED, RollupOutcome.INVOICED]
    assert f"deployment {deployment.slug}'s LLM charges are in USD" in report.failed[0].reason


def test_a_bad_tax_rate_setting_stops_the_run_before_anything_is_written(settings):
    settings.INVOICE_TAX_RATE = "10%"
    subscriber(TENANT_A)

    with pytest.raises(ImproperlyConfigured, match="INVOICE_TAX_RATE"):
        roll_up_period(APRIL)
    assert not TenantInvoice.objects.exists()


# ---------------------------------------------------------------------------------------------
# Bulk: queries grow with tenants, never with usage rows or lines
# ---------------------------------------------------------------------------------------------


def queries_of(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def test_queries_grow_with_tenants_not_with_usage_rows():
    tenants = [f"tenant-{n:02d}" for n in range(12)]
    deployments = [subscriber(tenant, starts_on=MARCH) for tenant in tenants]
    for deployment in deployments:
        add_usage(deployment, "droplet_hours", 2000, day=MARCH)
        add_usage(deployment, "volume_gb_month", 10, day=MARCH)
        llm_charges(deployment, "0.5", day=MARCH)
        # April: hundreds of usage rows and events per deployment instead of a few.
        for day in range(1, 31):
            add_usage(deployment, "droplet_hours", 100, day=dt.date(2026, 4, day))
            add_usage(deployment, "volume_gb_month", 1, day=dt.date(2026, 4, day))
        llm_charges(deployment, *["0.001"] * 50)

    few_rows_3 = queries_of(lambda: roll_up_period(MARCH, tenant_ids=tenants[:3]))
    many_rows_3 = queries_of(lambda: roll_up_period(APRIL, tenant_ids=tenants[:3]))
    few_rows_9 = queries_of(lambda: roll_up_period(MARCH, tenant_ids=tenants[3:]))

    assert many_rows_3 == few_rows_3
    per_tenant, remainder = divmod(few_rows_9 - few_rows_3, 9 - 3)
    assert remainder == 0
    # Per tenant: its lock, the invoice, its lines, its event, and its margin summaries (the
    # summary rows deleted and inserted, its deployment totals, the kind totals' upsert).
    assert per_tenant <= 9
    # The fixed part: subscriptions, existing invoices, plan terms, add-ons, usage, LLM charges,
    # prices, late-usage claims and the tenants' adjustment-note credit.
    assert few_rows_3 - 3 * per_tenant <= 11
    assert TenantInvoice.objects.count() == 15
