"""Invoices API (SPEC §13): tenant scoping, filters, lines, status changes by admins."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import InvoiceStatus, TenantInvoice
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import (
    APRIL,
    MARCH,
    make_invoice,
    meter,
    seed_catalog,
    subscriber,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/invoices"


def detail(invoice: TenantInvoice) -> str:
    return f"/api/v1/invoices/{invoice.pk}"


def issued(tenant_id: str, **kwargs) -> TenantInvoice:
    return invoice_issue(invoice=make_invoice(tenant_id, **kwargs), actor="test")


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def test_anonymous_is_401_and_gateway_tokens_403(anon_api, gateway_api):
    assert anon_api.get(LIST).status_code == 401
    assert gateway_api.get(LIST).status_code == 403


def test_a_tenant_lists_its_own_issued_invoices_only(tenant_a_api):
    mine = issued(TENANT_A)
    make_invoice(TENANT_A, period_start=MARCH)  # a draft: not the tenant's to see yet
    issued(TENANT_B)

    response = tenant_a_api.get(LIST)

    assert response.status_code == 200
    assert ids(response) == [mine.pk]
    assert response.json()["results"][0]["total_cents"] == mine.total_cents


def test_a_tenant_cannot_widen_its_scope_with_tenant_id(tenant_a_api):
    issued(TENANT_B)

    assert ids(tenant_a_api.get(LIST, {"tenant_id": TENANT_B})) == []


def test_admins_see_every_tenant_and_filter_by_tenant_period_and_status(admin_api):
    a_april = issued(TENANT_A)
    a_march_draft = make_invoice(TENANT_A, period_start=MARCH)
    b_april = issued(TENANT_B)

    assert sorted(ids(admin_api.get(LIST))) == sorted([a_april.pk, a_march_draft.pk, b_april.pk])
    assert ids(admin_api.get(LIST, {"tenant_id": TENANT_B})) == [b_april.pk]
    assert sorted(ids(admin_api.get(LIST, {"period": "2026-04"}))) == sorted(
        [a_april.pk, b_april.pk]
    )
    assert ids(admin_api.get(LIST, {"period": "2026-03-01"})) == [a_march_draft.pk]
    assert ids(admin_api.get(LIST, {"status": "draft"})) == [a_march_draft.pk]


@pytest.mark.parametrize("bad", ["2026-13", "April", "2026-04-15"])
def test_a_bad_period_is_a_400_naming_period(admin_api, bad):
    response = admin_api.get(LIST, {"period": bad})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["period"]


def test_a_bad_status_is_a_400_naming_status(admin_api):
    response = admin_api.get(LIST, {"status": "overdue"})

    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_the_list_issues_a_bounded_number_of_queries(admin_api, django_assert_max_num_queries):
    for n in range(12):
        issued(f"tenant-{n}")

    with django_assert_max_num_queries(3):  # count, page, lines (with their deployments)
        response = admin_api.get(LIST)

    assert len(response.json()["results"]) == 12


def test_detail_has_the_lines_in_position_order(tenant_a_api):
    seed_catalog()
    deployment = subscriber(TENANT_A, droplets=3)
    meter()
    roll_up_period(APRIL)
    invoice = invoice_issue(invoice=TenantInvoice.objects.get(), actor="ops")

    body = tenant_a_api.get(detail(invoice)).json()

    assert body["number"] == invoice.number and body["total_cents"] == 7064
    assert [(line["kind"], line["amount_cents"]) for line in body["lines"]] == [
        ("plan_base", 5000),
        ("addon", 750),
        ("overage", 672),
        ("tax", 642),
    ]
    overage = body["lines"][2]
    assert (overage["deployment_id"], overage["deployment"]) == (deployment.pk, deployment.slug)
    assert (overage["qty"], overage["unit"]) == ("672", "hour")
    assert overage["meta"]["used"] == "2160"
    assert body["lines"][3]["deployment_id"] is None


def test_another_tenants_invoice_is_404_and_so_is_an_own_draft(tenant_b_api, tenant_a_api):
    theirs = issued(TENANT_A)
    own_draft = make_invoice(TENANT_B)

    assert tenant_b_api.get(detail(theirs)).status_code == 404
    assert tenant_b_api.get(detail(own_draft)).status_code == 404
    assert tenant_a_api.get(detail(theirs)).status_code == 200


# ---------------------------------------------------------------------------------------------
# Writing (platform_admin)
# ---------------------------------------------------------------------------------------------


def test_tenants_cannot_change_invoice_status(tenant_a_api):
    mine = issued(TENANT_A)

    for action in ("issue", "mark-paid", "void"):
        response = tenant_a_api.post(f"{detail(mine)}/{action}", {"reason": "x"}, format="json")
        assert response.status_code == 403


def test_admin_issues_marks_paid(admin_api):
    invoice = make_invoice(TENANT_A)

    issued_body = admin_api.post(f"{detail(invoice)}/issue").json()
    paid_at = _utc_text(TenantInvoice.objects.get().issued_at)
    paid = admin_api.post(f"{detail(invoice)}/mark-paid", {"paid_at": paid_at}, format="json")

    assert issued_body["status"] == "issued" and issued_body["number"]
    assert paid.status_code == 200
    assert (paid.json()["status"], paid.json()["paid_at"]) == ("paid", paid_at)
    actors = list(TenantInvoice.objects.get().events.values_list("actor", flat=True))
    assert actors == ["api:ops-1@platform-admin"] * 2


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "paid_at",
    [
        "1999-01-01T00:00:00Z",  # a 2026 invoice paid in 1999
        "issued-1d",  # the day before it was issued
        "now+1h",  # beyond the leeway for another system's clock
        "2999-01-01T00:00:00Z",
    ],
)
def test_a_payment_before_the_issue_day_or_in_the_future_is_a_400_naming_paid_at(
    admin_api, paid_at
):
    invoice = issued(TENANT_A)
    moments = {
        "issued-1d": invoice.issued_at - dt.timedelta(days=1),
        "now+1h": timezone.now() + dt.timedelta(hours=1),
    }
    text = _utc_text(moments[paid_at]) if paid_at in moments else paid_at

    response = admin_api.post(f"{detail(invoice)}/mark-paid", {"paid_at": text}, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["paid_at"]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == (InvoiceStatus.ISSUED, None)
    assert not invoice.events.filter(type="paid").exists()


def test_a_payment_a_few_seconds_ahead_of_the_clock_is_accepted(admin_api):
    invoice = issued(TENANT_A)
    ahead = _utc_text(timezone.now() + dt.timedelta(seconds=90))

    response = admin_api.post(f"{detail(invoice)}/mark-paid", {"paid_at": ahead}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["paid_at"] == ahead


def test_void_without_a_reason_is_a_400_naming_reason(admin_api):
    invoice = issued(TENANT_A)

    missing = admin_api.post(f"{detail(invoice)}/void", {}, format="json")
    blank = admin_api.post(f"{detail(invoice)}/void", {"reason": " "}, format="json")
    voided = admin_api.post(f"{detail(invoice)}/void", {"reason": "wrong plan"}, format="json")

    for response in (missing, blank):
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["reason"]
    assert voided.status_code == 200
    assert (voided.json()["status"], voided.json()["void_reason"]) == ("void", "wrong plan")
    assert voided.json()["number"] == invoice.number


def test_a_move_off_the_map_is_422_listing_the_allowed_moves(admin_api):
    invoice = make_invoice(TENANT_A)

    response = admin_api.post(f"{detail(invoice)}/mark-paid", {}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["allowed"] == ["issue", "void"]
    assert TenantInvoice.objects.get().status == InvoiceStatus.DRAFT


def test_unknown_invoice_is_404(admin_api):
    assert admin_api.post("/api/v1/invoices/999999/issue").status_code == 404
    assert admin_api.get("/api/v1/invoices/999999").status_code == 404
