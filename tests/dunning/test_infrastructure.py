"""Acting on infrastructure (issue 21): a suspension by dunning queues power-offs that wait for
an operator; confirmed ones go through DigitalOcean's droplet actions (the emulator) and are
followed to completion; a refusal is recorded and retried; reinstatement powers back on."""

from __future__ import annotations

import datetime as dt

import pytest

from dunning.infrastructure import (
    MAX_ATTEMPTS,
    infrastructure_actions_advance,
    infrastructure_actions_confirm,
    infrastructure_actions_dismiss,
)
from dunning.models import InfrastructureAction
from dunning.policy import default_policy, dunning_policy_save
from dunning.services import dunning_run
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, run_emulator
from inventory.models import CloudResourceEvent
from invoicing.invoices.lifecycle import invoice_mark_paid
from tests.dunning.factories import day, issued_invoice
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

PERIOD = dt.date(2026, 4, 1)
CLOCK = dt.datetime(2026, 5, 15, 12, tzinfo=dt.UTC)


@pytest.fixture
def emulator(settings):
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=CLOCK)) as running:
        settings.DO_API_BASE_URL = running.base_url
        settings.DO_TOKEN_PROVISIONING = running.token
        yield running


def droplet_status(emulator, provider_id: str) -> str:
    client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=lambda s: None)
    return next(d["status"] for d in client.list_droplets() if str(d["id"]) == provider_id)


def suspended_with_a_droplet(emulator):
    dunning_policy_save(
        policy=default_policy(), values={"power_off_on_suspend": True}, actor="ops:alice"
    )
    client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=lambda s: None)
    provider_id = str(client.list_droplets()[0]["id"])
    invoice, deployment = issued_invoice()
    droplet = make_resource("droplet", provider_id=provider_id, deployment=deployment)
    dunning_run(today=day(invoice, 14))
    return invoice, deployment, droplet


def test_a_power_off_waits_for_confirmation_then_runs_to_completion(
    emulator, django_capture_on_commit_callbacks
):
    invoice, _, droplet = suspended_with_a_droplet(emulator)
    action = InfrastructureAction.objects.get()
    assert (action.kind, action.status, action.resource_id) == ("power_off", "pending", droplet.pk)
    infrastructure_actions_advance()  # nothing is sent before an operator confirms
    assert emulator.request_count(f"/v2/droplets/{droplet.provider_id}/actions") == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert infrastructure_actions_confirm(action_ids=[action.pk], actor="ops:alice") == 1
    action.refresh_from_db()
    assert action.status == "in_progress" and action.provider_action_id
    assert emulator.request_count(f"/v2/droplets/{droplet.provider_id}/actions") == 1

    assert infrastructure_actions_advance()["waiting"] == 1  # the emulator takes its time
    emulator.set_clock(CLOCK + dt.timedelta(minutes=1))
    assert infrastructure_actions_advance()["completed"] == 1
    action.refresh_from_db()
    assert action.status == "completed"
    assert droplet_status(emulator, droplet.provider_id) == "off"
    events = CloudResourceEvent.objects.filter(resource=droplet, type="power_action")
    assert [e.changes["status"] for e in events] == ["sent", "completed"]

    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="finance:bob")
    power_on = InfrastructureAction.objects.get(kind="power_on")
    assert power_on.status == "in_progress"
    emulator.set_clock(CLOCK + dt.timedelta(minutes=2))
    infrastructure_actions_advance()
    assert droplet_status(emulator, droplet.provider_id) == "active"
    assert droplet.__class__.objects.filter(pk=droplet.pk, deleted_at__isnull=True).exists()


def test_dismissed_power_offs_send_nothing_and_reinstatement_dismisses_pending_ones(
    emulator, django_capture_on_commit_callbacks
):
    invoice, _, droplet = suspended_with_a_droplet(emulator)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="finance:bob")
    action = InfrastructureAction.objects.get()
    assert action.status == "dismissed" and action.decided_by == "system (reinstated)"
    assert not InfrastructureAction.objects.filter(kind="power_on").exists()
    assert infrastructure_actions_dismiss(action_ids=[action.pk], actor="ops") == 0
    assert emulator.request_count(f"/v2/droplets/{droplet.provider_id}/actions") == 0


def test_digitalocean_refusing_a_power_off_is_recorded_and_retried(
    emulator, django_capture_on_commit_callbacks
):
    _, _, droplet = suspended_with_a_droplet(emulator)
    action = InfrastructureAction.objects.get()
    emulator.faults.add(path_prefix=f"/v2/droplets/{droplet.provider_id}/actions", status=422)
    with django_capture_on_commit_callbacks(execute=True):
        infrastructure_actions_confirm(action_ids=[action.pk], actor="ops:alice")
    action.refresh_from_db()
    assert action.status == "failed" and action.attempts == 1 and "422" in action.last_error
    failed = CloudResourceEvent.objects.get(resource=droplet, changes__status="failed")
    assert failed.changes["action"] == "power_off"

    assert infrastructure_actions_advance()["sent"] == 1  # the sweep retries it
    action.refresh_from_db()
    assert action.status == "in_progress" and action.last_error == ""

    # A refusal that lasts stops the retries at MAX_ATTEMPTS, until an operator confirms again.
    InfrastructureAction.objects.filter(pk=action.pk).update(
        status="failed", attempts=MAX_ATTEMPTS, provider_action_id=""
    )
    assert infrastructure_actions_advance() == {
        "sent": 0,
        "completed": 0,
        "failed": 0,
        "waiting": 0,
    }


def test_a_kubernetes_worker_is_never_queued_for_power_off():
    """A worker droplet (tag `k8s:<cluster-id>`) belongs to its cluster's node pool, which
    replaces a stopped worker: dunning queues power-offs for the deployment's other droplets."""
    dunning_policy_save(
        policy=default_policy(), values={"power_off_on_suspend": True}, actor="ops:alice"
    )
    invoice, deployment = issued_invoice()
    web = make_resource("droplet", deployment=deployment)
    make_resource("droplet", deployment=deployment, attrs={"tags": ["k8s:c-1", "k8s"]})

    dunning_run(today=day(invoice, 14))

    queued = InfrastructureAction.objects.filter(deployment=deployment)
    assert [(a.resource_id, a.kind, a.status) for a in queued] == [(web.pk, "power_off", "pending")]
