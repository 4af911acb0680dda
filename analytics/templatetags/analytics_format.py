"""Display filters of the margin dashboard: cents and percentages for people."""

from __future__ import annotations

from decimal import Decimal

from django import template

from arcadia_cloud.money import cents_to_units

register = template.Library()

MISSING = "—"


def format_cents(value: int | None) -> str:
    """Integer cents as currency units with thousands separators ("1,234.56"); — for None."""
    if value is None:
        return MISSING
    return f"{cents_to_units(value):,}"


def format_percent(value: Decimal | None) -> str:
    return MISSING if value is None else f"{value:,.2f}%"


register.filter("cents", format_cents)
register.filter("percent", format_percent)
