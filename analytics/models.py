"""Tables of the analytics app: exchange rates, and the margin dashboard's admin entry.

Revenue is billed in the plan currency (AUD) and COGS arrives in USD; SPEC §14 converts COGS
with a rate operators enter per month (`fx_rates`). Money in two currencies is never added.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

RATE_MAX_DIGITS = 18
RATE_DECIMAL_PLACES = 8
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class FxRate(models.Model):
    """How many units of `to_currency` one unit of `from_currency` buys, for a month.

    A rate is entered for a period (the month's first day) and stays in force until a later
    period has one: the margin of a month uses the latest rate at or before it and says which
    (`analytics.fx`). `entered_by` / `entered_at` record who typed the figure last.
    """

    from_currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. USD.")
    to_currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. AUD.")
    period = models.DateField(
        help_text="The first month the rate applies to, named by its first day (2026-04-01)."
    )
    rate = models.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        help_text="Units of the 'to' currency per one unit of the 'from' currency (e.g. 1.52).",
    )
    entered_by = models.CharField(max_length=200, editable=False)
    entered_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "fx_rates"
        ordering = ["-period", "from_currency", "to_currency"]
        verbose_name = "FX rate"
        constraints = [
            # Also the index of the lookup "latest rate of this pair at or before a period".
            models.UniqueConstraint(
                fields=["from_currency", "to_currency", "period"], name="fx_rate_once_per_period"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(condition=Q(period__day=1), name="fx_rate_period_first_day"),
            models.CheckConstraint(
                condition=~Q(from_currency=F("to_currency")), name="fx_rate_two_currencies"
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.from_currency} = {self.rate} {self.to_currency} from {self.period:%Y-%m}"

    def clean(self) -> None:
        """The database constraints, said to the operator field by field."""
        errors: dict[str, str] = {}
        for field in ("from_currency", "to_currency"):
            value = getattr(self, field) or ""
            if not _CURRENCY_RE.match(value):
                errors[field] = f"{value!r} is not an ISO 4217 code: three capitals, e.g. USD"
        if "to_currency" not in errors and self.from_currency == self.to_currency:
            errors["to_currency"] = "must differ from the 'from' currency"
        if self.period is not None and self.period.day != 1:
            errors["period"] = (
                f"{self.period} is not the first day of a month; a period is named by it "
                f"(use {self.period.replace(day=1)})"
            )
        if self.rate is not None and self.rate <= 0:
            errors["rate"] = f"must be greater than 0, got {self.rate}"
        if errors:
            raise ValidationError(errors)


class Margin(models.Model):
    """The margin dashboard's place in the admin; it has no table.

    Registering this table-less model gives the dashboard what every admin page has: an entry
    in the Analytics section of the admin index, the URL /admin/analytics/margin/, breadcrumbs,
    and a permission (`analytics.view_margin`) that the operators and finance groups receive
    with the app's other view permissions. Nothing ever queries it: its admin serves only the
    dashboard view (`analytics.admin.MarginAdmin`).
    """

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "margin dashboard"
        verbose_name_plural = "margin dashboard"

    def __str__(self) -> str:
        return "margin dashboard"
