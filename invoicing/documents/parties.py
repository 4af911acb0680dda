"""The seller and the buyer a tax invoice or an adjustment note names, as frozen on it.

The seller comes from settings (SELLER_LEGAL_NAME, SELLER_ABN, SELLER_ADDRESS,
SELLER_PAYMENT_INSTRUCTIONS; production refuses to boot without them), the buyer from the
tenant's billing profile (`customers`). Issuing copies both onto the document (`parties`), so a
later edit of either never changes a document already issued.
"""

from __future__ import annotations

from django.conf import settings

from customers.selectors import billing_profile_of


def seller_details() -> dict:
    return {
        "legal_name": settings.SELLER_LEGAL_NAME,
        "abn": settings.SELLER_ABN,
        "address": settings.SELLER_ADDRESS,
        "payment_instructions": settings.SELLER_PAYMENT_INSTRUCTIONS,
    }


def buyer_details(tenant_id: str) -> dict:
    """The tenant's billing profile; a tenant without one is named by its tenant id."""
    profile = billing_profile_of(tenant_id)
    if profile is None:
        return {
            "tenant_id": tenant_id,
            "legal_name": tenant_id,
            "abn": "",
            "address": "",
            "billing_emails": [],
        }
    return {
        "tenant_id": tenant_id,
        "legal_name": profile.legal_name,
        "abn": profile.abn,
        "address": profile.address,
        "billing_emails": list(profile.billing_emails),
    }


def frozen_parties(tenant_id: str) -> dict:
    return {"seller": seller_details(), "buyer": buyer_details(tenant_id)}
