"""Billing profiles: the tenant reads and replaces its own; bad input is named, nothing saved."""

from __future__ import annotations

import pytest

from customers.models import BillingProfile
from tests.conftest import TENANT_A, TENANT_B
from tests.customers.factories import make_profile

pytestmark = pytest.mark.django_db
URL = "/api/v1/billing-profile"


def test_a_tenant_without_a_profile_reads_an_empty_one(tenant_a_api):
    body = tenant_a_api.get(URL).json()
    assert body["tenant_id"] == TENANT_A and body["exists"] is False and body["abn"] == ""


def test_a_tenant_saves_and_reads_its_own_profile(tenant_a_api, tenant_b_api):
    response = tenant_a_api.put(
        URL,
        {
            "legal_name": "Orchid Labs Pty Ltd",
            "abn": "51 824 753 556",
            "address": "1 George St\nSydney NSW 2000",
            "billing_emails": ["ap@orchid.example", "AP@orchid.example", "cfo@orchid.example"],
            "payment_terms_days": 30,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["abn"] == "51824753556"  # compact form
    assert body["billing_emails"] == ["ap@orchid.example", "cfo@orchid.example"]
    assert body["payment_terms_days"] == 30 and body["exists"] is True
    assert tenant_a_api.get(URL).json()["legal_name"] == "Orchid Labs Pty Ltd"
    assert tenant_b_api.get(URL).json()["exists"] is False
    assert BillingProfile.objects.get().tenant_id == TENANT_A


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"legal_name": "X", "abn": "12 345 678 901"}, "abn"),
        ({"legal_name": "X", "abn": "5182475355"}, "abn"),
        ({"legal_name": ""}, "legal_name"),
        ({"legal_name": "X", "billing_emails": ["not-an-email"]}, "billing_emails[0]"),
        ({"legal_name": "X", "billing_emails": "a@b.example"}, "billing_emails"),
        ({"legal_name": "X", "payment_terms_days": 400}, "payment_terms_days"),
        ({"legal_name": "X", "payment_terms_days": -1}, "payment_terms_days"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_saves_nothing(tenant_a_api, body, field):
    make_profile(TENANT_A, legal_name="Before")
    response = tenant_a_api.put(URL, body, format="json")
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert any(name == field or name.startswith(field) for name in fields), fields
    assert BillingProfile.objects.get(tenant_id=TENANT_A).legal_name == "Before"


def test_an_admin_names_the_tenant(admin_api):
    make_profile(TENANT_B)
    assert admin_api.get(URL).status_code == 400
    body = admin_api.get(URL, {"tenant_id": TENANT_B}).json()
    assert body["legal_name"] == f"{TENANT_B} Pty Ltd"
    response = admin_api.put(
        f"{URL}?tenant_id={TENANT_B}", {"legal_name": "B renamed"}, format="json"
    )
    assert response.status_code == 200
    assert BillingProfile.objects.get(tenant_id=TENANT_B).legal_name == "B renamed"


def test_a_nul_in_the_admins_tenant_id_is_a_400_not_a_500(admin_api):
    response = admin_api.get(URL, {"tenant_id": "a\x00b"})
    assert response.status_code == 400
    assert "tenant_id" in response.json()["error"]["fields"]
