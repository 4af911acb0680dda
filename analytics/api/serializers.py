"""Shapes of the dashboard API: what `analytics.selectors` returns, rendered for JSON.

Money is integer cents with its currency; percentages and rates are decimal strings; a figure
that cannot be computed (no exchange rate, no revenue) is null and a `reason` says why.
"""

from __future__ import annotations

from rest_framework import serializers

from analytics.models import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS
from arcadia_cloud.parsing import PeriodField

PERIOD_HELP = "The month: YYYY-MM or YYYY-MM-01."
PERIOD_REQUIRED = "is required: the month as YYYY-MM or YYYY-MM-01."


class DashboardPeriodQuerySerializer(serializers.Serializer):
    period = PeriodField(
        help_text=PERIOD_HELP,
        error_messages={"required": PERIOD_REQUIRED, "blank": PERIOD_REQUIRED},
    )


def cents_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, **kwargs)


def optional_cents_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, allow_null=True, help_text=help_text)


def percent_field() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        coerce_to_string=True,
        read_only=True,
        allow_null=True,
        help_text="Margin as a percentage of revenue, 2 places; null without revenue or rate.",
    )


class FxConversionSerializer(serializers.Serializer):
    from_currency = serializers.CharField(read_only=True)
    to_currency = serializers.CharField(read_only=True)
    available = serializers.BooleanField(read_only=True)
    rate = serializers.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        coerce_to_string=True,
        read_only=True,
        allow_null=True,
        help_text="The rate as entered (in `direction`); null when none applies.",
    )
    rate_period = serializers.DateField(
        read_only=True, allow_null=True, help_text="The month the rate used was entered for."
    )
    direction = serializers.CharField(
        read_only=True, allow_null=True, help_text="How the rate was entered, e.g. USD→AUD."
    )
    inverted = serializers.BooleanField(
        read_only=True, help_text="True when the rate was entered to→from and COGS is divided."
    )
    reason = serializers.CharField(read_only=True, allow_null=True)
    note = serializers.CharField(read_only=True, help_text="The conversion in one sentence.")


class MarginFiguresSerializer(serializers.Serializer):
    currency = serializers.CharField(
        read_only=True, help_text="The revenue currency; converted COGS and margin are in it."
    )
    revenue_cents = cents_field(help_text="Invoiced ex-tax, non-void invoices only.")
    cogs_usd_cents = cents_field(help_text="DigitalOcean cost ex-tax, in USD cents.")
    cogs_cents = optional_cents_field("COGS converted into `currency`; null without a rate.")
    margin_cents = optional_cents_field("Revenue minus converted COGS; null without a rate.")
    margin_percent = percent_field()


class MarginTenantSerializer(MarginFiguresSerializer):
    tenant_id = serializers.CharField(read_only=True)


class MarginDeploymentSerializer(MarginFiguresSerializer):
    deployment_id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)


class CurrencyRevenueSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True)
    revenue_cents = cents_field()


class MarginOverallSerializer(MarginFiguresSerializer):
    currency = serializers.CharField(
        read_only=True, allow_null=True, help_text="Null when revenue is in several currencies."
    )
    revenue_cents = optional_cents_field("Null when revenue is in several currencies.")
    revenue_by_currency = CurrencyRevenueSerializer(many=True, read_only=True)
    unavailable_reason = serializers.CharField(
        read_only=True, allow_null=True, help_text="Why the margin is null, when it is."
    )


class MarginUnattributedSerializer(serializers.Serializer):
    lines = serializers.IntegerField(read_only=True, help_text="Cost lines with no tenant.")
    currency = serializers.CharField(read_only=True)
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("Converted into `currency`; null without a rate.")


class CogsSourceSerializer(serializers.Serializer):
    """Where the month's COGS comes from: DigitalOcean's invoice, its daily costs so far (no
    invoice yet), or none."""

    source = serializers.ChoiceField(choices=["invoice", "daily", "none"], read_only=True)
    days = serializers.IntegerField(read_only=True)
    through = serializers.DateField(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)


class ReconciliationFiguresSerializer(serializers.Serializer):
    daily_usd_cents = serializers.IntegerField(read_only=True, allow_null=True)
    invoice_usd_cents = serializers.IntegerField(read_only=True, allow_null=True)
    difference_usd_cents = serializers.IntegerField(read_only=True, allow_null=True)


class ReconciliationKindSerializer(ReconciliationFiguresSerializer):
    kind = serializers.CharField(read_only=True)


class ReconciliationSerializer(serializers.Serializer):
    """The month's daily costs summed against DigitalOcean's invoice, per kind (USD, ex tax)."""

    period = serializers.DateField(read_only=True)
    status = serializers.ChoiceField(
        choices=["reconciled", "no_invoice", "no_daily_costs"], read_only=True
    )
    days_covered = serializers.IntegerField(read_only=True)
    days_in_month = serializers.IntegerField(read_only=True)
    kinds = ReconciliationKindSerializer(many=True, read_only=True)
    total = ReconciliationFiguresSerializer(read_only=True)


class MarginSummarySerializer(serializers.Serializer):
    period = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    cogs_currency = serializers.CharField(read_only=True)
    cogs_source = CogsSourceSerializer(read_only=True)
    revenue_currencies = serializers.ListField(child=serializers.CharField(), read_only=True)
    fx = FxConversionSerializer(many=True, read_only=True)
    overall = MarginOverallSerializer(read_only=True)
    tenants = MarginTenantSerializer(many=True, read_only=True)
    deployments = MarginDeploymentSerializer(many=True, read_only=True)
    unattributed = MarginUnattributedSerializer(read_only=True)


class RevenueKindSerializer(serializers.Serializer):
    kind = serializers.CharField(
        read_only=True,
        help_text="Billing kind; plan_base, addon and llm_usage lines under their line kind.",
    )
    currency = serializers.CharField(read_only=True)
    revenue_cents = cents_field()
    lines = serializers.IntegerField(read_only=True)


class CogsKindSerializer(serializers.Serializer):
    kind = serializers.CharField(read_only=True, help_text="DigitalOcean kind (droplet, ...).")
    currency = serializers.CharField(read_only=True)
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("Converted into `currency`; null without a rate.")
    lines = serializers.IntegerField(read_only=True)


class ByKindSerializer(serializers.Serializer):
    period = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    cogs_currency = serializers.CharField(read_only=True)
    cogs_source = CogsSourceSerializer(read_only=True)
    reconciliation = ReconciliationSerializer(read_only=True)
    fx = FxConversionSerializer(read_only=True)
    revenue = RevenueKindSerializer(many=True, read_only=True)
    cogs = CogsKindSerializer(many=True, read_only=True)


class AccruedFiguresSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True)
    subscriptions = serializers.IntegerField(read_only=True)
    recurring_cents = cents_field(help_text="Plan and add-ons for the active days of the month.")
    usage_cents = cents_field(help_text="Overage and list-priced usage on month-to-date usage.")
    llm_cents = cents_field(
        help_text="Passthrough LLM charges so far, rounded once per deployment."
    )
    late_usage_cents = cents_field(
        help_text="Late usage of earlier, already invoiced months that this month's invoice "
        "will carry (priced on those months' terms, minus what was billed for them)."
    )
    subtotal_cents = cents_field(help_text="Ex-tax, as the month-end invoice would be.")


class AccrualTenantSerializer(AccruedFiguresSerializer):
    tenant_id = serializers.CharField(read_only=True)


class AccrualTotalSerializer(AccruedFiguresSerializer):
    tenants = serializers.IntegerField(read_only=True)


class AccrualFailureSerializer(serializers.Serializer):
    tenant_id = serializers.CharField(read_only=True)
    reason = serializers.CharField(
        read_only=True, help_text="Why it cannot be priced: the month-end rollup's reason."
    )


class CogsToDateSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True)
    usd_cents = optional_cents_field("DigitalOcean's month-to-date usage in USD cents.")
    cents = optional_cents_field("Converted into `currency`; null without a rate or a snapshot.")
    fetched_at = serializers.DateTimeField(read_only=True, allow_null=True)
    fx = FxConversionSerializer(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True, allow_null=True)


class MarginToDateTenantSerializer(MarginFiguresSerializer):
    tenant_id = serializers.CharField(read_only=True)
    revenue_cents = cents_field(help_text="Accrued so far, ex tax: the tenant's subtotal.")


class MarginToDateUnattributedSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True)
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("Converted into `currency`; null without a rate.")


class MarginToDateSerializer(serializers.Serializer):
    """The month so far: accrued revenue against COGS from the month's source (its daily costs
    until DigitalOcean's invoice arrives)."""

    cogs_source = CogsSourceSerializer(read_only=True)
    tenants = MarginToDateTenantSerializer(many=True, read_only=True)
    unattributed = MarginToDateUnattributedSerializer(read_only=True)


class AccrualSerializer(serializers.Serializer):
    as_of = serializers.DateField(read_only=True)
    period = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    days_elapsed = serializers.IntegerField(read_only=True)
    tenants = AccrualTenantSerializer(many=True, read_only=True)
    totals = AccrualTotalSerializer(many=True, read_only=True, help_text="One per currency.")
    failed = AccrualFailureSerializer(
        many=True,
        read_only=True,
        help_text="Tenants the month-end rollup would refuse to invoice, with its reason; "
        "they are in no total.",
    )
    cogs_to_date = CogsToDateSerializer(read_only=True)
    margin_to_date = MarginToDateSerializer(read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
