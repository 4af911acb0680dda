"""Dunning (issue 21): one invoice walked through every step with a fixed clock, each step
exactly once — also with two concurrent runs — the override holding everything, void stopping
it and an operator's hand-made change respected."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from deployments.models import DeploymentEvent, DeploymentState
from deployments.services import deployment_set_billing_action_suspended, deployment_transition
from dunning.models import DunningStep, StepOutcome
from dunning.services import dunning_run
from invoicing.invoices.lifecycle import invoice_mark_paid, invoice_void
from invoicing.invoices.terms import payment_terms_days_for
from tests.catalog.concurrency import run_concurrently
from tests.conftest import TENANT_A
from tests.dunning.factories import ACTOR, day, issued_invoice

pytestmark = pytest.mark.django_db

# The default policy: reminders 3 days before, 1 and 7 days after; past_due +3; suspended +14.
WALK = (-3, 1, 3, 7, 14)


def moves(deployment) -> list[tuple[str, str, str]]:
    return [
        (e.from_state, e.to_state, e.actor)
        for e in DeploymentEvent.objects.filter(deployment=deployment).order_by("id")
        if e.from_state
    ]


def test_an_issued_invoice_is_due_after_the_payment_terms(settings):
    settings.INVOICE_PAYMENT_TERMS_DAYS = 30
    invoice, _ = issued_invoice()
    assert payment_terms_days_for(TENANT_A) == 30
    assert invoice.due_on == invoice.issued_at.astimezone(dt.UTC).date() + dt.timedelta(days=30)
    assert invoice.events.get(type="issued").details["due_on"] == invoice.due_on.isoformat()


def test_one_invoice_walks_every_step_exactly_once(settings, django_capture_on_commit_callbacks):
    settings.ARCADIA_BILLING_FALLBACK_EMAIL = "billing@tenant-a.example"
    invoice, deployment = issued_invoice()

    with django_capture_on_commit_callbacks(execute=True):
        dunning_run(today=day(invoice, -4))
    assert not DunningStep.objects.filter(invoice=invoice).exists() and not mail.outbox

    for offset in WALK:
        for _ in range(2):  # re-running the same day changes nothing
            with django_capture_on_commit_callbacks(execute=True):
                dunning_run(today=day(invoice, offset))

    keys = sorted(DunningStep.objects.filter(invoice=invoice).values_list("key", "outcome"))
    p = invoice.pk
    d = deployment.pk
    assert keys == sorted(
        [
            (f"{p}:-:reminder-3", "applied"),
            (f"{p}:-:reminder+1", "applied"),
            (f"{p}:-:reminder+7", "applied"),
            (f"{p}:{d}:past_due", "applied"),
            (f"{p}:{d}:suspended", "applied"),
        ]
    )
    assert len(mail.outbox) == 3
    assert all(invoice.number in m.subject for m in mail.outbox)
    assert mail.outbox[0].to == ["billing@tenant-a.example"]
    assert moves(deployment) == [
        ("active", "past_due", "system"),
        ("past_due", "suspended", "system"),
    ]
    reasons = DeploymentEvent.objects.filter(deployment=deployment, actor="system")
    assert all(invoice.number in e.reason for e in reasons)

    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="finance:bob")
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.ACTIVE
    assert moves(deployment)[-1][:2] == ("suspended", "active")
    assert DunningStep.objects.get(key=f"{p}:{d}:reinstated").outcome == StepOutcome.APPLIED

    # Nothing happens again: later days, a second settlement, the sweep.
    with django_capture_on_commit_callbacks(execute=True):
        dunning_run(today=day(invoice, 30))
    assert len(moves(deployment)) == 3 and len(mail.outbox) == 3


def test_a_late_first_run_sends_only_the_latest_reminder_and_moves_in_order(
    settings, django_capture_on_commit_callbacks
):
    settings.ARCADIA_BILLING_FALLBACK_EMAIL = "billing@tenant-a.example"
    invoice, deployment = issued_invoice()
    with django_capture_on_commit_callbacks(execute=True):
        dunning_run(today=day(invoice, 20))
    steps = dict(DunningStep.objects.filter(invoice=invoice).values_list("kind", "outcome"))
    assert len(mail.outbox) == 1 and "7 days overdue" in mail.outbox[0].body
    assert steps["past_due"] == steps["suspended"] == "applied"
    assert [m[1] for m in moves(deployment)] == ["past_due", "suspended"]


def test_no_billing_address_means_no_email_and_a_log_line(
    settings, django_capture_on_commit_callbacks, caplog
):
    settings.ARCADIA_BILLING_FALLBACK_EMAIL = ""
    invoice, _ = issued_invoice()
    with django_capture_on_commit_callbacks(execute=True):
        dunning_run(today=day(invoice, -3))
    assert not mail.outbox
    assert "not emailed: no billing address" in caplog.text
    assert DunningStep.objects.get(invoice=invoice).outcome == StepOutcome.APPLIED


def test_the_override_holds_every_step_until_it_is_lifted(django_capture_on_commit_callbacks):
    invoice, deployment = issued_invoice()
    deployment_set_billing_action_suspended(
        deployment_ids=[deployment.pk], suspended=True, actor=ACTOR
    )
    for offset in (*WALK, 20):
        with django_capture_on_commit_callbacks(execute=True):
            dunning_run(today=day(invoice, offset))
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.ACTIVE and moves(deployment) == []
    held = DunningStep.objects.filter(invoice=invoice)
    assert {s.outcome for s in held} == {"held"}
    assert sorted(s.kind for s in held) == ["past_due", "reminder", "reminder", "reminder"]
    assert not mail.outbox

    deployment_set_billing_action_suspended(
        deployment_ids=[deployment.pk], suspended=False, actor=ACTOR
    )
    with django_capture_on_commit_callbacks(execute=True):
        dunning_run(today=day(invoice, 20))
    assert [m[1] for m in moves(deployment)] == ["past_due", "suspended"]


def test_the_override_holds_reinstatement_too(django_capture_on_commit_callbacks):
    invoice, deployment = issued_invoice()
    dunning_run(today=day(invoice, 14))
    deployment_set_billing_action_suspended(
        deployment_ids=[deployment.pk], suspended=True, actor=ACTOR
    )
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="finance:bob")
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.SUSPENDED
    step = DunningStep.objects.get(invoice=invoice, kind="reinstated")
    assert step.outcome == StepOutcome.HELD

    deployment_set_billing_action_suspended(
        deployment_ids=[deployment.pk], suspended=False, actor=ACTOR
    )
    dunning_run(today=day(invoice, 15))  # the daily run finishes the held reinstatement
    deployment.refresh_from_db()
    step.refresh_from_db()
    assert deployment.state == DeploymentState.ACTIVE and step.outcome == StepOutcome.APPLIED


def test_a_void_invoice_stops_its_dunning():
    invoice, deployment = issued_invoice()
    dunning_run(today=day(invoice, 3))
    invoice_void(invoice=invoice, actor="ops:alice", reason="billed the wrong tenant")
    dunning_run(today=day(invoice, 20))
    assert [m[1] for m in moves(deployment)] == ["past_due"]
    assert not DunningStep.objects.filter(invoice=invoice, kind="suspended").exists()


def test_an_operators_hand_made_change_is_not_fought():
    """An operator who reinstates a past_due deployment by hand is not overruled: suspension
    still follows at its day (a new step), but past_due is not re-applied."""
    invoice, deployment = issued_invoice()
    dunning_run(today=day(invoice, 3))
    deployment_transition(
        deployment=deployment,
        to_state=DeploymentState.ACTIVE,
        actor="ops:alice",
        reason="promised to pay",
        by_tenant=False,
    )
    dunning_run(today=day(invoice, 4))
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.ACTIVE  # past_due was applied once, not again

    deployment_transition(
        deployment=deployment,
        to_state=DeploymentState.PAUSED,
        actor="ops:alice",
        reason="tenant asked",
        by_tenant=False,
    )
    dunning_run(today=day(invoice, 14))
    deployment.refresh_from_db()
    step = DunningStep.objects.get(invoice=invoice, kind="suspended")
    assert deployment.state == DeploymentState.PAUSED
    assert step.outcome == StepOutcome.SKIPPED and "paused" in step.detail


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_apply_each_step_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's locks")
    settings.ARCADIA_BILLING_FALLBACK_EMAIL = "billing@tenant-a.example"
    invoice, deployment = issued_invoice()
    for offset in WALK:
        today = day(invoice, offset)
        results = run_concurrently(
            lambda t=today: dunning_run(today=t), lambda t=today: dunning_run(today=t)
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert all(not r.failed for r in results), results

    assert DunningStep.objects.filter(invoice=invoice, outcome="applied").count() == 5
    assert len(mail.outbox) == 3
    assert [m[1] for m in moves(deployment)] == ["past_due", "suspended"]

    invoice_mark_paid(invoice=invoice, actor="finance:bob", paid_at=timezone.now())
    results = run_concurrently(
        lambda: dunning_run(today=day(invoice, 15)), lambda: dunning_run(today=day(invoice, 15))
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [m[1] for m in moves(deployment)] == ["past_due", "suspended", "active"]
    assert DunningStep.objects.filter(invoice=invoice, kind="reinstated").count() == 1
