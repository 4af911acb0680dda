"""Dashboard API, platform_admin only: margin, revenue and COGS by kind, live accrual, the
pricing advisor, and re-rating a draft plan version (issue 18)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.advisor import pricing_advice
from analytics.api.serializers import (
    AccrualSerializer,
    ByKindSerializer,
    DashboardPeriodQuerySerializer,
    MarginQuerySerializer,
    MarginSummarySerializer,
    PriceRerateSerializer,
    PricingAdviceSerializer,
    PricingQuerySerializer,
    RerateSerializer,
    SimulateRequestSerializer,
)
from analytics.rerating import price_change_rerate, version_rerate
from analytics.selectors import (
    by_kind,
    cogs_reconciliation,
    live_accrual,
    margin_page,
    margin_summary,
)
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import IsPlatformAdmin

TAGS = ["dashboard"]
BAD_PERIOD = OpenApiResponse(description="`period` is missing or not YYYY-MM / YYYY-MM-01.")
NO_TOKEN = OpenApiResponse(description="No or bad token.")
NOT_ADMIN = OpenApiResponse(description="The token lacks the platform_admin role.")


class MarginView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="dashboard_margin",
        summary="A month's P&L: revenue, COGS and margin overall, per tenant and deployment.",
        description="The whole report, or with `page_size` / `after` one page of tenants "
        "(in tenant order) and their deployments with the whole period's overall figures.",
        parameters=[MarginQuerySerializer],
        responses={
            200: MarginSummarySerializer,
            400: OpenApiResponse(description="`period`, `page_size` or `after` is bad (named)."),
            401: NO_TOKEN,
            403: NOT_ADMIN,
        },
    )
    def get(self, request: Request) -> Response:
        query = parse_input(MarginQuerySerializer, request.query_params)
        if "page_size" in query or "after" in query:
            summary = margin_page(
                query["period"], after=query.get("after"), limit=query.get("page_size", 50)
            )
        else:
            summary = margin_summary(query["period"])
        return Response(MarginSummarySerializer(summary).data)


class ByKindView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="dashboard_by_kind",
        summary=(
            "A month's revenue by billing kind and COGS by DigitalOcean kind, with the daily "
            "costs reconciled against DigitalOcean's invoice per kind."
        ),
        parameters=[DashboardPeriodQuerySerializer],
        responses={200: ByKindSerializer, 400: BAD_PERIOD, 401: NO_TOKEN, 403: NOT_ADMIN},
    )
    def get(self, request: Request) -> Response:
        period = parse_input(DashboardPeriodQuerySerializer, request.query_params)["period"]
        body = {**by_kind(period), "reconciliation": cogs_reconciliation(period)}
        return Response(ByKindSerializer(body).data)


class AccrualView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="dashboard_accrual",
        summary="The current month so far: what each tenant's invoice would be today.",
        responses={200: AccrualSerializer, 401: NO_TOKEN, 403: NOT_ADMIN},
    )
    def get(self, request: Request) -> Response:
        return Response(AccrualSerializer(live_accrual()).data)


class PricingAdviceView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="dashboard_pricing",
        summary="The pricing advisor: COGS and revenue per unit by kind and size, the unit "
        "price that reaches a target margin, and who loses money and why.",
        parameters=[PricingQuerySerializer],
        responses={
            200: PricingAdviceSerializer,
            400: OpenApiResponse(description="`period` or `target_margin` is bad (named)."),
            401: NO_TOKEN,
            403: NOT_ADMIN,
        },
    )
    def get(self, request: Request) -> Response:
        query = parse_input(PricingQuerySerializer, request.query_params)
        advice = pricing_advice(query["period"], target_margin=query.get("target_margin"))
        return Response(PricingAdviceSerializer(advice).data)


class VersionSimulateView(APIView):
    """Served under catalog/versions/{id}/simulate; lives here because it needs COGS and FX."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=["catalog"],
        operation_id="catalog_version_simulate",
        summary="Re-rate a past month's usage of the affected subscribers under a draft version.",
        description=(
            "Prices the month's actual usage of the tenants subscribed to the plan's active "
            "version under the draft's terms, through the rollup's pricing, and writes nothing: "
            "per tenant the invoice it got, the one it would get, COGS and the margin each way, "
            "with totals per currency. What cannot be computed is null and `missing` says why."
        ),
        request=SimulateRequestSerializer,
        responses={
            200: RerateSerializer,
            400: OpenApiResponse(
                description="`period` missing, malformed or not over yet; `version` not a draft."
            ),
            401: NO_TOKEN,
            403: NOT_ADMIN,
            404: OpenApiResponse(description="No plan version with that id."),
        },
    )
    def post(self, request: Request, version_id: int) -> Response:
        period = parse_input(SimulateRequestSerializer, request.data)["period"]
        return Response(RerateSerializer(version_rerate(version_id=version_id, period=period)).data)


class ResourcePriceSimulateView(APIView):
    """Served under catalog/resource-prices/{id}/simulate, beside the version's simulate."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=["catalog"],
        operation_id="catalog_resource_price_simulate",
        summary="Re-rate a past month as if a pending resource price had been in force.",
        description=(
            "Prices the month's actual usage of the tenants who used the price's kind (with a "
            "subscription in its currency) as if the pending price had applied all month, in "
            "place of the prices of its kind, currency and size scope, through the rollup's "
            "pricing, and writes nothing: per tenant the invoice it got, the one it would get, "
            "COGS and the margin each way, with totals. What cannot be computed is null and "
            "`missing` says why."
        ),
        request=SimulateRequestSerializer,
        responses={
            200: PriceRerateSerializer,
            400: OpenApiResponse(
                description="`period` missing, malformed or not over yet; `price` already in force."
            ),
            401: NO_TOKEN,
            403: NOT_ADMIN,
            404: OpenApiResponse(description="No resource price with that id."),
        },
    )
    def post(self, request: Request, price_id: int) -> Response:
        period = parse_input(SimulateRequestSerializer, request.data)["period"]
        rerated = price_change_rerate(price_id=price_id, period=period)
        return Response(PriceRerateSerializer(rerated).data)
