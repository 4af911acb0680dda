"""Builders for the customers tests: billing profiles through the real service."""

from __future__ import annotations

from customers.models import BillingProfile
from customers.services import billing_profile_save

VALID_ABN = "51 824 753 556"


def make_profile(tenant_id: str, **fields) -> BillingProfile:
    values = {
        "legal_name": f"{tenant_id} Pty Ltd",
        "abn": VALID_ABN,
        "address": "1 George St, Sydney NSW 2000",
        "billing_emails": [f"accounts@{tenant_id}.example"],
    }
    values.update(fields)
    return billing_profile_save(tenant_id=tenant_id, actor="test:customers", **values)
