"""Dashboard API, platform_admin only: margin, revenue and COGS by kind, live accrual."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    AccrualSerializer,
    ByKindSerializer,
    DashboardPeriodQuerySerializer,
    MarginSummarySerializer,
)
from analytics.selectors import by_kind, cogs_reconciliation, live_accrual, margin_summary
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
        parameters=[DashboardPeriodQuerySerializer],
        responses={200: MarginSummarySerializer, 400: BAD_PERIOD, 401: NO_TOKEN, 403: NOT_ADMIN},
    )
    def get(self, request: Request) -> Response:
        period = parse_input(DashboardPeriodQuerySerializer, request.query_params)["period"]
        return Response(MarginSummarySerializer(margin_summary(period)).data)


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
