"""Writes of the customers app: a tenant's billing profile."""

from __future__ import annotations

from django.db import transaction

from arcadia_cloud.validation import clean_text
from customers.models import BillingProfile
from customers.validation import clean_abn, clean_billing_emails, clean_payment_terms

MAX_ADDRESS_LENGTH = 1000


@transaction.atomic
def billing_profile_save(
    *,
    tenant_id: str,
    legal_name: object,
    abn: object = "",
    address: object = "",
    billing_emails: object = (),
    payment_terms_days: object = None,
    actor: str,
) -> BillingProfile:
    """Create or replace the tenant's billing profile (every field, as given).

    Bad input is a 400 naming the field, nothing written. Documents already issued keep the
    details frozen onto them; the next one is issued with these.
    """
    values = {
        "legal_name": clean_text("legal_name", legal_name, max_length=200),
        "abn": clean_abn("abn", abn),
        "address": clean_text(
            "address", address or "", max_length=MAX_ADDRESS_LENGTH, required=False
        ),
        "billing_emails": clean_billing_emails("billing_emails", billing_emails),
        "payment_terms_days": clean_payment_terms("payment_terms_days", payment_terms_days),
        "updated_by": actor[:200],
    }
    profile, _ = BillingProfile.objects.update_or_create(tenant_id=tenant_id, defaults=values)
    return profile
