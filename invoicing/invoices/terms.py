"""Payment terms: how many days a tenant has to pay an issued invoice.

`payment_terms_days_for` is the ONE place the number is decided: the issue service asks it for
`due_on`, the documents print it. The tenant's billing profile (`customers`) may set its own
terms; otherwise INVOICE_PAYMENT_TERMS_DAYS (14) applies (docs/decisions.md, "Due dates").
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from customers.selectors import billing_profile_of


def payment_terms_days_for(tenant_id: str) -> int:
    """The tenant's payment terms in days: its billing profile's, else the settings default."""
    profile = billing_profile_of(tenant_id)
    if profile is not None and profile.payment_terms_days is not None:
        return profile.payment_terms_days
    return int(settings.INVOICE_PAYMENT_TERMS_DAYS)


def due_on_for(*, tenant_id: str, issued_on: dt.date) -> dt.date:
    return issued_on + dt.timedelta(days=payment_terms_days_for(tenant_id))
