"""Writes of the analytics app: the exchange rates operators enter."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from analytics.models import FxRate


@transaction.atomic
def fx_rate_save(*, fx_rate: FxRate, actor: str) -> FxRate:
    """Create or correct a rate, recording who entered it and when.

    Validated as a whole first (ISO codes, a first-of-month period, a positive rate, one rate
    per pair and period), so a bad figure is refused field by field before the database's own
    constraints would. A correction re-stamps `entered_by` / `entered_at`: the margin a rate
    produced is reproducible only from the figure in force, and the stamp says whose it is.
    """
    fx_rate.entered_by = actor
    fx_rate.entered_at = timezone.now()
    fx_rate.full_clean()
    fx_rate.save()
    return fx_rate
