"""Invoicing API views: LLM usage ingestion (SPEC §12)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.permissions import IsLLMGatewayOrAdmin
from invoicing.usage.api.serializers import (
    LLMUsageBatchSerializer,
    LLMUsageEventSerializer,
    LLMUsageResultSerializer,
    parse_llm_usage,
)
from invoicing.usage.llm_usage import MAX_BATCH_SIZE, llm_usage_events_record


class LLMUsageView(APIView):
    """The LLM gateway reports priced usage: one event, or a batch of up to 1000."""

    permission_classes = [IsLLMGatewayOrAdmin]

    @extend_schema(
        tags=["integrations"],
        operation_id="llm_usage_report",
        summary=f"Report LLM usage: one event or {{events: [...]}} of up to {MAX_BATCH_SIZE}.",
        description=(
            "Role llm_gateway or platform_admin. All or nothing. A gateway_request_id already "
            "recorded with the same payload is acknowledged as a duplicate (no new row); with "
            "another payload it is a 409. The deployment must exist and belong to the event's "
            "tenant (400 naming events[i].deployment_id); a deployment with llm_mode none "
            "refuses usage (422), and so does an event dated more than LATE_USAGE_HORIZON_DAYS "
            "(default 62) ago (422 naming occurred_at). An event of a month already invoiced "
            "is billed on the tenant's next invoice. Charges are exact: JSON numbers are read "
            "from their digits."
        ),
        request=PolymorphicProxySerializer(
            component_name="LLMUsageReport",
            serializers=[LLMUsageEventSerializer, LLMUsageBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={
            201: LLMUsageResultSerializer,
            200: OpenApiResponse(
                LLMUsageResultSerializer, description="Every event was a duplicate."
            ),
            400: OpenApiResponse(description="Invalid events, each field named."),
            401: OpenApiResponse(description="No or bad token."),
            403: OpenApiResponse(description="Not an llm_gateway or platform_admin token."),
            409: OpenApiResponse(description="A gateway_request_id reused for another payload."),
            422: OpenApiResponse(
                description="A deployment with llm_mode none, or an event older than the "
                "late-usage horizon."
            ),
        },
    )
    def post(self, request):
        outcome = llm_usage_events_record(events=parse_llm_usage(request.data))
        body = LLMUsageResultSerializer(outcome).data
        return Response(
            body, status=status.HTTP_201_CREATED if outcome.accepted else status.HTTP_200_OK
        )
