"""Exchange rates and the margin dashboard in the operators' admin.

- FX rates: operators enter and correct them (who and when is recorded by the service);
  finance sees them read-only.
- The margin dashboard (/admin/analytics/margin/): a period picker, the P&L overall, per tenant
  and per deployment with links to the invoices, deployments and resources behind each row,
  server-drawn SVG bar charts, the exchange rate used (or why figures are missing) and the live
  accrual of the current month. It only renders what `analytics.selectors` computes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from analytics.advisor import pricing_advice
from analytics.charts import Series, bar_chart
from analytics.models import FxRate, Margin
from analytics.rerating import price_change_rerate, version_rerate
from analytics.selectors import by_kind, live_accrual, margin_page
from analytics.services import fx_rate_save
from analytics.templatetags.analytics_format import format_cents
from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.periods import parse_period, previous_month
from catalog.admin import PlanVersionAdmin as CatalogPlanVersionAdmin
from catalog.admin import ResourcePriceAdmin as CatalogResourcePriceAdmin
from catalog.models import PlanVersion, PlanVersionStatus, ResourcePrice

CHART_MAX_TENANTS = 20
# Tenants per page of the margin dashboard (with their deployments): a page is what a person
# reads, and what the dashboard can serve fast at thousands of tenants (docs/decisions.md).
DASHBOARD_PAGE_TENANTS = 100
REVENUE_COLOR = "#417690"
COGS_COLOR = "#e0a030"
PROFIT_COLOR = "#44b78b"
LOSS_COLOR = "#ba2121"


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ("period", "from_currency", "to_currency", "rate", "entered_by", "entered_at")
    list_filter = ("from_currency", "to_currency")
    readonly_fields = ("entered_by", "entered_at")
    fields = ("from_currency", "to_currency", "period", "rate", "entered_by", "entered_at")
    date_hierarchy = "period"

    def save_model(self, request: HttpRequest, obj: FxRate, form, change: bool) -> None:
        fx_rate_save(fx_rate=obj, actor=admin_actor(request))


@admin.register(Margin)
class MarginAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Serves the dashboard at the model's changelist URL and nothing else: the model has no
    table, so there is nothing to add, change, delete or list."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", self.admin_site.admin_view(self.changelist_view), name=name),
            path(
                "pricing/",
                self.admin_site.admin_view(self.pricing_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_pricing",
            ),
        ]

    def pricing_view(self, request: HttpRequest) -> TemplateResponse:
        """The pricing advisor (issue 18 item 4): a period and a target margin, the table."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        period, error = _requested_period(request)
        target = request.GET.get("target_margin", "").strip()
        try:
            advice = pricing_advice(period, target_margin=target or None)
        except CALLER_ERRORS as exc:
            error = str(exc)
            advice = pricing_advice(period)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Pricing advisor — {period:%B %Y}",
            "period_value": f"{period:%Y-%m}",
            "target_value": advice["target_margin_percent"],
            "advice": advice,
            "error": error,
        }
        return TemplateResponse(request, "admin/analytics/margin/pricing.html", context)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        period, period_error = _requested_period(request)
        after = request.GET.get("after", "").strip() or None
        summary = margin_page(period, after=after, limit=DASHBOARD_PAGE_TENANTS)
        next_after = summary["next_after"]
        kinds = by_kind(period)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Margin dashboard — {period:%B %Y}",
            "period": period,
            "period_value": f"{period:%Y-%m}",
            "period_error": period_error,
            "summary": summary,
            "tenants": [_with_invoice_link(row, period) for row in summary["tenants"]],
            "deployments": [_with_deployment_links(row) for row in summary["deployments"]],
            "kinds": kinds,
            "margin_chart": _margin_chart(summary),
            "paged": after is not None or next_after is not None,
            "first_page_url": _dashboard_page_url(period) if after else None,
            "next_page_url": next_after and _dashboard_page_url(period, next_after),
            "kind_chart": _kind_chart(kinds),
            "accrual": live_accrual(),
            "fx_add_url": _fx_add_url(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/analytics/margin/dashboard.html", context)


def _dashboard_page_url(period: dt.date, after: str | None = None) -> str:
    """The dashboard's query for a page of tenants: the first, or the one after `after`."""
    query = {"period": f"{period:%Y-%m}"}
    return f"?{urlencode(query if after is None else {**query, 'after': after})}"


def _requested_period(request: HttpRequest) -> tuple[dt.date, str | None]:
    """The period picked (YYYY-MM or YYYY-MM-01), default last month; a bad value is reported
    and last month shown instead."""
    default = previous_month(utc_today())
    raw = request.GET.get("period", "").strip()
    if not raw:
        return default, None
    try:
        return parse_period(raw), None
    except ValueError as exc:
        return default, f"period: {exc}; showing {default:%Y-%m}"


def _admin_url(name: str, *args: Any, query: dict[str, Any] | None = None) -> str:
    url = reverse(f"admin:{name}", args=args)
    return f"{url}?{urlencode(query)}" if query else url


def _with_invoice_link(row: dict[str, Any], period: dt.date) -> dict[str, Any]:
    # The invoice admin's own list filters (tenant, period), so its sidebar shows the selection.
    query = {"tenant": row["tenant_id"], "period": period.isoformat()}
    return {**row, "invoices_url": _admin_url("invoicing_tenantinvoice_changelist", query=query)}


def _with_deployment_links(row: dict[str, Any]) -> dict[str, Any]:
    deployment_id = row["deployment_id"]
    return {
        **row,
        "deployment_url": _admin_url("deployments_deployment_change", deployment_id),
        "resources_url": _admin_url(
            "inventory_cloudresource_changelist", query={"deployment": deployment_id}
        ),
    }


def _fx_add_url(request: HttpRequest) -> str | None:
    """Where to enter a missing rate, for those allowed to (operators, not finance)."""
    if not request.user.has_perm("analytics.add_fxrate"):
        return None
    return _admin_url("analytics_fxrate_add")


def _margin_chart(summary: dict[str, Any]) -> SafeString | None:
    """Margin per tenant of the page in the main revenue currency: the CHART_MAX_TENANTS largest,
    most profitable first. None when no rate converts COGS (the page says why)."""
    currency = summary["unattributed"]["currency"]
    rows = [
        row
        for row in summary["tenants"]
        if row["currency"] == currency and row["margin_cents"] is not None
    ]
    if not rows and summary["tenants"]:
        return None
    shown = sorted(rows, key=lambda row: -abs(row["margin_cents"]))[:CHART_MAX_TENANTS]
    shown.sort(key=lambda row: (-row["margin_cents"], row["tenant_id"]))
    return bar_chart(
        title=f"Margin per tenant ({currency})",
        labels=[row["tenant_id"] for row in shown],
        series=[
            Series(
                f"Margin ({currency})",
                [row["margin_cents"] for row in shown],
                PROFIT_COLOR,
                negative_color=LOSS_COLOR,
            )
        ],
        format_value=format_cents,
    )


def _kind_chart(kinds: dict[str, Any]) -> SafeString:
    """Revenue by billing kind and COGS by DigitalOcean kind side by side, in the revenue
    currency. The kinds do not map 1:1, so each bar stands alone under its own kind; without
    a rate the COGS series is left out rather than drawn in another currency."""
    currency = kinds["fx"]["to_currency"]
    revenue = [row for row in kinds["revenue"] if row["currency"] == currency]
    cogs = [row for row in kinds["cogs"] if row["cogs_cents"] is not None]
    labels = [row["kind"] for row in revenue] + [f"DO {row['kind']}" for row in cogs]
    gap_for_cogs = [None] * len(cogs)
    series = [
        Series(
            f"Revenue ({currency})",
            [row["revenue_cents"] for row in revenue] + gap_for_cogs,
            REVENUE_COLOR,
        )
    ]
    if kinds["fx"]["available"]:
        series.append(
            Series(
                f"COGS ({currency})",
                [None] * len(revenue) + [row["cogs_cents"] for row in cogs],
                COGS_COLOR,
            )
        )
    return bar_chart(
        title=f"Revenue vs COGS by kind ({currency})",
        labels=labels,
        series=series,
        format_value=format_cents,
    )


# ---------------------------------------------------------------------------------------------
# Re-rating a draft plan version (issue 18 item 5)
# ---------------------------------------------------------------------------------------------


def _simulate_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    subject: Any,
    *,
    title: str,
    intro: str,
    rerate: Callable[[dt.date], dict[str, Any]],
    publish_url: str | None = None,
) -> TemplateResponse:
    """The Simulate page of a draft version or a pending price: a period field and that month
    re-rated (`rerate(period)`, which writes nothing), or why it cannot be."""
    period, error = _requested_period(request)
    rerating = None
    try:
        rerating = rerate(period)
    except CALLER_ERRORS as exc:
        error = str(exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "subject": subject,
        "intro": intro,
        "period_value": f"{period:%Y-%m}",
        "rerating": rerating,
        "error": error,
        "publish_url": publish_url,
    }
    return TemplateResponse(request, "admin/analytics/rerating/simulate.html", context)


# The catalog's plan-version admin, with a Simulate page beside Publish and the re-rating of
# last month in Publish's confirmation. It needs COGS and exchange rates, which live on this
# floor, so this app re-registers the catalog's admin with those added.
admin.site.unregister(PlanVersion)


@admin.register(PlanVersion)
class PlanVersionAdmin(CatalogPlanVersionAdmin):
    @admin.display(description="publish")
    def publish_link(self, version: PlanVersion) -> str:
        if version.pk is None or version.status != PlanVersionStatus.DRAFT:
            return "—"
        return format_html(
            '<a class="button" href="{}">Simulate…</a> {}',
            reverse("admin:catalog_planversion_simulate", args=[version.pk]),
            super().publish_link(version),
        )

    def get_urls(self):
        simulate = path(
            "<path:object_id>/simulate/",
            self.admin_site.admin_view(self.simulate_view),
            name="catalog_planversion_simulate",
        )
        return [simulate, *super().get_urls()]

    def simulate_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        """A period field and the re-rating of that month under the draft (writes nothing)."""
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("no such plan version")
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        publish_url = None
        if version.status == PlanVersionStatus.DRAFT and self.has_publish_permission(request):
            publish_url = reverse("admin:catalog_planversion_publish", args=[version.pk])
        return _simulate_page(
            self,
            request,
            version,
            title=f"Simulate {version.plan.code} v{version.number}",
            intro=(
                f"Prices a past month's actual usage of the subscribers of {version.plan.code}'s "
                "active version under this draft's terms, through the rollup's pricing. Nothing "
                "is written."
            ),
            rerate=lambda period: version_rerate(version_id=version.pk, period=period),
            publish_url=publish_url,
        )

    def publish_preview_extra(self, request: HttpRequest, version: PlanVersion) -> str:
        """Last month re-rated under the draft, as the Simulate page shows it."""
        period = previous_month(utc_today())
        try:
            rerating = version_rerate(version_id=version.pk, period=period)
        except CALLER_ERRORS as exc:
            return format_html('<p class="warning">Re-rating {}: {}</p>', f"{period:%Y-%m}", exc)
        return render_to_string(
            "admin/analytics/rerating/_table.html", {"rerating": rerating}, request=request
        )


# The catalog's resource-price admin, with a Simulate page for a pending price (one that starts
# after today): last month re-rated as if it had been in force (issue 18 item 5).
admin.site.unregister(ResourcePrice)


@admin.register(ResourcePrice)
class ResourcePriceAdmin(CatalogResourcePriceAdmin):
    list_display = (*CatalogResourcePriceAdmin.list_display, "simulate_link")

    @admin.display(description="re-rate")
    def simulate_link(self, price: ResourcePrice) -> str:
        if price.pk is None or price.effective_from <= utc_today():
            return "—"
        return format_html(
            '<a class="button" href="{}">Simulate…</a>',
            reverse("admin:catalog_resourceprice_simulate", args=[price.pk]),
        )

    def get_urls(self):
        simulate = path(
            "<path:object_id>/simulate/",
            self.admin_site.admin_view(self.simulate_view),
            name="catalog_resourceprice_simulate",
        )
        return [simulate, *super().get_urls()]

    def simulate_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        """A period field and that month re-rated as if the pending price applied (no writes)."""
        price = self.get_object(request, object_id)
        if price is None:
            raise Http404("no such resource price")
        if not self.has_view_permission(request, price):
            raise PermissionDenied
        return _simulate_page(
            self,
            request,
            price,
            title=f"Simulate {price}",
            intro=(
                f"Prices a past month's actual usage of the tenants who used {price.resource_kind} "
                f"as if this price (from {price.effective_from}) had been in force all month, in "
                "place of the prices of its kind, currency and size scope, through the rollup's "
                "pricing. Nothing is written."
            ),
            rerate=lambda period: price_change_rerate(price_id=price.pk, period=period),
        )
