"""The adjustment-note API: operators issue, tenants read their own (and only their own)."""

from __future__ import annotations

import pytest

from invoicing.credit_notes.services import credit_note_issue
from invoicing.invoices.lifecycle import invoice_void
from invoicing.models import CreditNote, TenantInvoice
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR, make_invoice

pytestmark = pytest.mark.django_db


def post_note(api, invoice, body):
    return api.post(f"/api/v1/invoices/{invoice.pk}/credit-notes", body, format="json")


def test_an_admin_credits_part_of_a_line_and_the_invoice_shows_its_net(admin_api, tenant_a_api):
    invoice = issued_invoice(TENANT_A)
    response = post_note(
        admin_api,
        invoice,
        {
            "reason": "powered-off droplet",
            "lines": [{"line_id": usage_line(invoice).pk, "amount_cents": 3333}],
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["subtotal_cents"], body["tax_cents"], body["total_cents"]) == (3333, 333, 3666)
    assert body["invoice_number"] == invoice.number
    assert body["number"].startswith("ARC-CN-")

    detail = tenant_a_api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (detail["total_cents"], detail["credited_cents"], detail["net_cents"]) == (
        13580,
        3666,
        9914,
    )
    listed = tenant_a_api.get("/api/v1/invoices").json()["results"][0]
    assert listed["net_cents"] == 9914

    notes = tenant_a_api.get("/api/v1/credit-notes").json()["results"]
    assert [n["number"] for n in notes] == [body["number"]]
    one = tenant_a_api.get(f"/api/v1/credit-notes/{body['id']}")
    assert one.status_code == 200 and one.json()["lines"][0]["amount_cents"] == 3333


def test_another_tenant_never_sees_the_note(admin_api, tenant_b_api):
    invoice = issued_invoice(TENANT_A)
    note = credit_note_issue(invoice=invoice, reason="x", actor=ACTOR)
    assert tenant_b_api.get("/api/v1/credit-notes").json()["results"] == []
    assert tenant_b_api.get(f"/api/v1/credit-notes/{note.pk}").status_code == 404
    assert tenant_b_api.get(f"/api/v1/credit-notes/{note.pk}/pdf").status_code == 404


def test_tenants_cannot_issue_notes(tenant_a_api):
    invoice = issued_invoice(TENANT_A)
    assert post_note(tenant_a_api, invoice, {"reason": "x"}).status_code == 403
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"reason": "x", "lines": [{"line_id": 987654321}]}, 400, "lines[0].line_id"),
        (
            {"reason": "x", "lines": [{"line_id": "LINE", "amount_cents": 1}]},
            400,
            "lines[0].line_id",
        ),
        (
            {"reason": "x", "lines": [{"line_id": 1, "amount_cents": 0}]},
            400,
            "lines[0].amount_cents",
        ),
        (
            {"reason": "x", "lines": [{"line_id": 1, "amount_cents": -5}]},
            400,
            "lines[0].amount_cents",
        ),
        ({"reason": ""}, 400, "reason"),
        ({"reason": "x", "settlement": "cash"}, 400, "settlement"),
        ({"reason": "x", "settlement": "refund"}, 400, "refund_reference"),
    ],
)
def test_bad_input_is_named_and_writes_nothing(admin_api, body, status, field):
    invoice = issued_invoice(TENANT_A)
    response = post_note(admin_api, invoice, body)
    assert response.status_code == status, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not CreditNote.objects.exists()


def test_above_the_remainder_is_409_naming_the_amount(admin_api):
    invoice = issued_invoice(TENANT_A)
    line = usage_line(invoice)
    response = post_note(
        admin_api, invoice, {"reason": "x", "lines": [{"line_id": line.pk, "amount_cents": 12346}]}
    )
    assert response.status_code == 409
    assert "lines[0].amount_cents" in response.json()["error"]["fields"]
    assert not CreditNote.objects.exists()


def test_a_draft_or_void_invoice_is_422(admin_api):
    assert post_note(admin_api, make_invoice(TENANT_A), {"reason": "x"}).status_code == 422
    void = invoice_void(invoice=issued_invoice(TENANT_B), actor=ACTOR, reason="sent in error")
    assert post_note(admin_api, void, {"reason": "x"}).status_code == 422
    assert not CreditNote.objects.exists()


def test_an_invoice_with_notes_is_corrected_not_voided(admin_api):
    invoice = issued_invoice(TENANT_A)
    credit_note_issue(
        invoice=invoice,
        reason="x",
        lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 1}],
        actor=ACTOR,
    )
    response = admin_api.post(
        f"/api/v1/invoices/{invoice.pk}/void", {"reason": "oops"}, format="json"
    )
    assert response.status_code == 409
    assert TenantInvoice.objects.get(pk=invoice.pk).status == "issued"
