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


class MarginQuerySerializer(DashboardPeriodQuerySerializer):
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=500,
        help_text="Tenants per page. With it (or `after`) the report is one page of tenants "
        "and their deployments; without, every tenant and deployment.",
    )
    after = serializers.CharField(
        required=False,
        max_length=200,
        help_text="The page starts after this tenant: the previous page's `next_after`.",
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
    next_after = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Paged: the `after` of the next page, null on the last one (and always null "
        "for the whole report). `overall`, `unattributed` and `revenue_currencies` are the whole "
        "period's on every page; `fx` names the conversions the page uses.",
    )


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


# ---------------------------------------------------------------------------------------------
# Re-rating a draft version (issue 18 item 5)
# ---------------------------------------------------------------------------------------------


class SimulateRequestSerializer(serializers.Serializer):
    period = PeriodField(
        help_text="The past month to re-rate: YYYY-MM or YYYY-MM-01 (it must be over).",
        error_messages={"required": PERIOD_REQUIRED, "blank": PERIOD_REQUIRED},
    )


class RerateInvoiceSerializer(serializers.Serializer):
    subtotal_cents = cents_field(help_text="Ex-tax: the revenue the margin is computed on.")
    tax_cents = cents_field()
    total_cents = cents_field(help_text="Subtotal plus tax.")
    credit_cents = cents_field(help_text="Adjustment-note credit consumed after tax.")


class RerateGotSerializer(RerateInvoiceSerializer):
    source = serializers.ChoiceField(
        choices=["invoice", "priced"],
        read_only=True,
        help_text="`invoice`: the month's non-void invoice; `priced`: no invoice yet, the month "
        "priced under the tenant's current versions.",
    )
    invoice_id = serializers.IntegerField(read_only=True, allow_null=True)
    invoice_number = serializers.CharField(read_only=True, allow_null=True)
    invoice_status = serializers.CharField(read_only=True, allow_null=True)


class RerateTenantSerializer(serializers.Serializer):
    tenant_id = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    got = RerateGotSerializer(read_only=True)
    would = RerateInvoiceSerializer(
        read_only=True,
        help_text="Priced under the changed terms (the draft version, or the pending price).",
    )
    cogs_usd_cents = optional_cents_field("The month's DigitalOcean cost attributed to it.")
    cogs_cents = optional_cents_field("COGS in `currency`; null without a rate or cost lines.")
    margin_got_cents = optional_cents_field("Got subtotal minus COGS.")
    margin_would_cents = optional_cents_field("Would-get subtotal minus COGS.")
    margin_got_percent = percent_field()
    margin_would_percent = percent_field()
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)


class RerateTotalSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True)
    tenants = serializers.IntegerField(read_only=True)
    got_subtotal_cents = cents_field()
    got_total_cents = cents_field()
    would_subtotal_cents = cents_field()
    would_total_cents = cents_field()
    cogs_cents = optional_cents_field("Null when any tenant's COGS is unknown.")
    margin_got_cents = optional_cents_field("Null when any tenant's COGS is unknown.")
    margin_would_cents = optional_cents_field("Null when any tenant's COGS is unknown.")
    margin_got_percent = percent_field()
    margin_would_percent = percent_field()


class RerateResultSerializer(serializers.Serializer):
    period = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    currency = serializers.CharField(read_only=True)
    tenants = RerateTenantSerializer(many=True, read_only=True)
    failed = AccrualFailureSerializer(many=True, read_only=True)
    totals = RerateTotalSerializer(many=True, read_only=True, help_text="One per currency.")
    fx = FxConversionSerializer(many=True, read_only=True, required=False)
    missing = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What could not be computed and why (no usage, no rate, no cost lines).",
    )


class RerateSerializer(RerateResultSerializer):
    version_id = serializers.IntegerField(read_only=True)
    plan_code = serializers.CharField(read_only=True)
    version_number = serializers.IntegerField(read_only=True)
    replaces_version_number = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The active version whose subscribers are re-rated (publishing retires it).",
    )


class PriceRerateSerializer(RerateResultSerializer):
    price_id = serializers.IntegerField(read_only=True)
    resource_kind = serializers.CharField(read_only=True)
    size_scope = serializers.CharField(
        read_only=True, help_text="The size slug or family the price is scoped to; empty: all."
    )
    price = serializers.CharField(read_only=True, help_text="The pending price, for people.")
    effective_from = serializers.DateField(
        read_only=True, help_text="When the pending price takes effect (after today)."
    )


# ---------------------------------------------------------------------------------------------
# The pricing advisor (issue 18 item 4)
# ---------------------------------------------------------------------------------------------


class PricingQuerySerializer(DashboardPeriodQuerySerializer):
    target_margin = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The margin to reach, percent of revenue, 0 (break-even) to 99.99; default 30.",
    )


def per_unit_field(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24,
        decimal_places=4,
        coerce_to_string=True,
        read_only=True,
        allow_null=True,
        help_text=help_text,
    )


def units_field() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24,
        decimal_places=6,
        coerce_to_string=True,
        read_only=True,
        help_text="Units metered in the month, in the kind's base unit (allowance included).",
    )


class AdviceFiguresSerializer(serializers.Serializer):
    units = units_field()
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("COGS in `currency`; null without a rate.")
    cogs_per_unit_cents = per_unit_field("COGS per unit in cents (4 places); null without units.")
    break_even_unit_price_cents = optional_cents_field(
        "The whole-cent unit price that covers COGS (rounded up)."
    )
    target_unit_price_cents = optional_cents_field(
        "The whole-cent unit price that reaches the target margin (rounded up)."
    )


class AdviceSizeSerializer(AdviceFiguresSerializer):
    size_slug = serializers.CharField(read_only=True)


class AdviceKindSerializer(AdviceFiguresSerializer):
    kind = serializers.CharField(read_only=True, help_text="Billing kind.")
    label = serializers.CharField(read_only=True)
    unit = serializers.CharField(read_only=True)
    revenue_cents = cents_field(help_text="Overage and usage lines of the kind, ex-tax.")
    revenue_per_unit_cents = per_unit_field("Revenue per metered unit in cents (4 places).")
    margin_cents = optional_cents_field("Revenue minus COGS; null without a rate.")
    margin_percent = percent_field()
    sizes = AdviceSizeSerializer(many=True, read_only=True)


class AdviceUnbilledSerializer(serializers.Serializer):
    kind = serializers.CharField(read_only=True, help_text="DigitalOcean kind.")
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("Converted; null without a rate.")
    reason = serializers.CharField(read_only=True)


class AdviceResourceSerializer(serializers.Serializer):
    resource_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True)
    size_slug = serializers.CharField(read_only=True)
    statuses = serializers.ListField(child=serializers.CharField(), read_only=True)
    billing_kind = serializers.CharField(read_only=True, allow_null=True)
    units = units_field()
    cogs_usd_cents = cents_field()
    cogs_cents = optional_cents_field("Converted; null without a rate.")
    billed_for_kind_cents = cents_field(
        help_text="What the deployment was billed for the resource's billing kind."
    )
    reason = serializers.CharField(read_only=True, help_text="Why it loses money.")


class AdviceLossSerializer(serializers.Serializer):
    tenant_id = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    revenue_cents = cents_field()
    cogs_usd_cents = cents_field()
    cogs_cents = cents_field()
    margin_cents = cents_field()


class AdviceDeploymentLossSerializer(AdviceLossSerializer):
    deployment_id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(read_only=True)
    resources = AdviceResourceSerializer(many=True, read_only=True)


class PricingAdviceSerializer(serializers.Serializer):
    period = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    currency = serializers.CharField(read_only=True)
    cogs_currency = serializers.CharField(read_only=True)
    target_margin_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, coerce_to_string=True, read_only=True
    )
    rounding = serializers.CharField(read_only=True, help_text="How suggested prices round.")
    fx = FxConversionSerializer(read_only=True)
    kinds = AdviceKindSerializer(many=True, read_only=True)
    unbilled_cogs = AdviceUnbilledSerializer(many=True, read_only=True)
    losing_tenants = AdviceLossSerializer(many=True, read_only=True, help_text="Worst first.")
    losing_tenant_count = serializers.IntegerField(read_only=True)
    losing_deployments = AdviceDeploymentLossSerializer(many=True, read_only=True)
    losing_deployment_count = serializers.IntegerField(read_only=True)
    missing = serializers.ListField(child=serializers.CharField(), read_only=True)
