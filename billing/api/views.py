"""COGS API, platform_admin only: the balance, per-line cost, invoices and their match report."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.errors import NotFound
from arcadia_cloud.pagination import KeysetPagination
from arcadia_cloud.permissions import IsPlatformAdmin
from billing.api.serializers import (
    DEFAULT_LINE_LIMIT,
    MAX_LINE_LIMIT,
    BalanceSerializer,
    CostLinePageSerializer,
    CostLineSerializer,
    CostLinesQuerySerializer,
    InvoiceDetailSerializer,
    InvoiceListQuerySerializer,
    InvoiceSerializer,
)
from billing.models import CloudInvoice
from billing.selectors import (
    cost_lines_for_period,
    invoice_get,
    invoice_list,
    invoice_match_report,
    latest_balance,
)

TAGS = ["billing"]
NOT_FOUND = OpenApiResponse(description="Nothing to show yet / no such invoice.")
BAD_QUERY = OpenApiResponse(description="A query parameter is missing or invalid (named).")


class BalanceView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="billing_balance",
        summary="The latest DigitalOcean balance snapshot (month-to-date spend).",
        responses={200: BalanceSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request) -> Response:
        snapshot = latest_balance()
        if snapshot is None:
            raise NotFound("No balance snapshot yet: billing.snapshot_balance runs hourly at :07.")
        return Response(BalanceSerializer(snapshot).data)


class CostLinePagination(KeysetPagination):
    """Keyset pages of a month's lines in (invoice, line) order (the lines' unique key), sized
    by the endpoint's `limit` (validated by its query serializer): a late page costs what the
    first does."""

    page_size = DEFAULT_LINE_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LINE_LIMIT


class CostLinesView(APIView):
    permission_classes = [IsPlatformAdmin]
    keyset_ordering = ("invoice_id", "line_number")

    @extend_schema(
        tags=TAGS,
        operation_id="billing_cost_lines",
        summary="Per-line COGS of a month: DigitalOcean invoice lines with their match.",
        parameters=[CostLinesQuerySerializer],
        responses={200: CostLinePageSerializer, 400: BAD_QUERY},
    )
    def get(self, request: Request) -> Response:
        query = CostLinesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        lines = cost_lines_for_period(
            params["period"], kind=params.get("kind"), match_status=params.get("match_status")
        )
        count = lines.count()
        pages = CostLinePagination()
        page = pages.paginate_queryset(lines, request, view=self)
        return Response(
            {
                "period": params["period"].isoformat(),
                "kind": params.get("kind"),
                "match_status": params.get("match_status"),
                "limit": params["limit"],
                "count": count,
                "truncated": pages.has_next,
                "next": pages.get_next_link(),
                "results": CostLineSerializer(page, many=True).data,
            }
        )


class InvoiceListView(ListAPIView):
    """DigitalOcean invoices, newest period first, with their match statistics."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = InvoiceSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[CloudInvoice]:
        query = InvoiceListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return invoice_list(period=query.validated_data.get("period"))

    @extend_schema(
        tags=TAGS,
        operation_id="billing_invoices",
        parameters=[InvoiceListQuerySerializer],
        responses={200: InvoiceSerializer(many=True), 400: BAD_QUERY},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class InvoiceDetailView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=TAGS,
        operation_id="billing_invoice_detail",
        summary="One invoice with its match report: counts and lines grouped by reason.",
        responses={200: InvoiceDetailSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, invoice_uuid: str) -> Response:
        invoice = invoice_get(invoice_uuid=invoice_uuid)
        payload = {"invoice": invoice, "match_report": invoice_match_report(invoice)}
        return Response(InvoiceDetailSerializer(payload).data)
