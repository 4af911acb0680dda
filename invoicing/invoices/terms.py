"""Payment terms: how many days a tenant has to pay an issued invoice.

`payment_terms_days_for` is the ONE place the number is decided: the issue service asks it for
`due_on`. Today it is the settings default (ARCADIA_PAYMENT_TERMS_DAYS); a tenant's billing
profile overrides it here once billing profiles exist (docs/decisions.md, "Due dates").
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings


def payment_terms_days_for(tenant_id: str) -> int:
    """The tenant's payment terms in days (the settings default until billing profiles land)."""
    return int(settings.ARCADIA_PAYMENT_TERMS_DAYS)


def due_on_for(*, tenant_id: str, issued_on: dt.date) -> dt.date:
    return issued_on + dt.timedelta(days=payment_terms_days_for(tenant_id))
