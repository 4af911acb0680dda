"""Operator views (issue 21): aged receivables in the API and the admin, the policy edited in
the admin with its changes audited, a deployment's dunning history on its page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from arcadia_cloud.validation import FieldError
from dunning.models import DunningPolicy, DunningPolicyChange
from dunning.policy import default_policy, dunning_policy_save
from dunning.selectors import aged_receivables, bucket_of
from dunning.services import dunning_run
from invoicing.invoices.lifecycle import invoice_mark_paid
from tests.conftest import TENANT_A, TENANT_B, make_api_client
from tests.dunning.factories import day, issued_invoice
from tests.invoicing.factories import APRIL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "days_1_30"),
        (30, "days_1_30"),
        (31, "days_31_60"),
        (60, "days_31_60"),
        (61, "days_61_90"),
        (90, "days_61_90"),
        (91, "days_over_90"),
    ],
)
def test_bucket_edges(days, bucket):
    assert bucket_of(days) == bucket


def test_receivables_per_tenant_and_currency_by_age():
    a_march, _ = issued_invoice(TENANT_A)
    a_april, _ = issued_invoice(TENANT_A, period_start=APRIL)
    issued_invoice(TENANT_B)
    paid, _ = issued_invoice(TENANT_B, period_start=APRIL)
    invoice_mark_paid(invoice=paid, actor="finance")
    today = a_march.due_on + dt.timedelta(days=45)

    rows = {(r.tenant_id, r.currency): r.as_dict() for r in aged_receivables(today=today)}
    assert set(rows) == {(TENANT_A, "AUD"), (TENANT_B, "AUD")}
    a = rows[(TENANT_A, "AUD")]
    assert a["days_31_60_cents"] == a_march.total_cents + a_april.total_cents
    assert a["total_cents"] == a_march.total_cents + a_april.total_cents and a["invoices"] == 2
    assert rows[(TENANT_B, "AUD")]["invoices"] == 1  # the paid one is not owed


def test_the_receivables_endpoint_is_for_operators():
    issued_invoice(TENANT_A)
    admin = make_api_client("platform-admin", ["platform_admin"], sub="ops")
    body = admin.get("/api/v1/dashboard/receivables").json()
    assert body["rows"][0]["tenant_id"] == TENANT_A and body["rows"][0]["current_cents"] > 0
    tenant = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    assert tenant.get("/api/v1/dashboard/receivables").status_code == 403


def test_the_admin_shows_receivables_and_a_deployments_dunning_history(admin_client):
    invoice, deployment = issued_invoice(TENANT_A)
    dunning_run(today=day(invoice, 3))
    page = admin_client.get(reverse("admin:dunning_receivables"))
    assert page.status_code == 200 and TENANT_A in page.content.decode()
    change = admin_client.get(reverse("admin:deployments_deployment_change", args=[deployment.pk]))
    assert change.status_code == 200
    assert "past_due" in change.content.decode() and invoice.number in change.content.decode()


def test_editing_the_policy_in_the_admin_is_audited(admin_client):
    policy = default_policy()
    response = admin_client.post(
        reverse("admin:dunning_dunningpolicy_change", args=[policy.pk]),
        {
            "name": "default",
            "is_default": "on",
            "reminder_offsets": "[-5, 2]",
            "past_due_after_days": "4",
            "suspend_after_days": "21",
            "power_off_on_suspend": "on",
            "changes-TOTAL_FORMS": "0",
            "changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert (policy.reminder_offsets, policy.suspend_after_days) == ([-5, 2], 21)
    change = DunningPolicyChange.objects.get(policy=policy)
    assert change.actor == "admin:admin"
    assert change.changes["suspend_after_days"] == [14, 21]


def test_a_policy_that_suspends_before_past_due_is_refused():
    with pytest.raises(FieldError) as caught:
        dunning_policy_save(policy=default_policy(), values={"suspend_after_days": 1}, actor="ops")
    assert list(caught.value.fields) == ["suspend_after_days"]
    with pytest.raises(FieldError):
        dunning_policy_save(policy=default_policy(), values={"reminder_offsets": "x"}, actor="o")
    assert not DunningPolicyChange.objects.exists()
    assert DunningPolicy.objects.get().suspend_after_days == 14


def test_a_new_default_takes_over_from_the_old_one():
    old = default_policy()
    new = dunning_policy_save(
        policy=DunningPolicy(), values={"name": "strict", "is_default": True}, actor="ops"
    )
    old.refresh_from_db()
    assert new.is_default and not old.is_default
    assert default_policy() == new
