"""Dunning API: the aged-receivables table (operators: platform_admin)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.clock import utc_today
from arcadia_cloud.permissions import IsPlatformAdmin
from dunning.selectors import aged_receivables


class ReceivablesRowSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    currency = serializers.CharField()
    current_cents = serializers.IntegerField(help_text="Not yet past the due date.")
    days_1_30_cents = serializers.IntegerField()
    days_31_60_cents = serializers.IntegerField()
    days_61_90_cents = serializers.IntegerField()
    days_over_90_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    invoices = serializers.IntegerField()


class ReceivablesSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    rows = ReceivablesRowSerializer(many=True)


@extend_schema(
    tags=["dashboard"],
    responses={
        200: ReceivablesSerializer,
        403: OpenApiResponse(description="The token lacks the platform_admin role."),
    },
)
class ReceivablesView(APIView):
    """Issued, unpaid invoices by age past their due date (current, 1-30, 31-60, 61-90, over
    90 days), per tenant and currency, in cents."""

    permission_classes = [IsPlatformAdmin]

    def get(self, request):
        today = utc_today()
        rows = aged_receivables(today=today)
        return Response({"as_of": today.isoformat(), "rows": [row.as_dict() for row in rows]})
