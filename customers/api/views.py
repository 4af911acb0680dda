"""`GET/PUT /api/v1/billing-profile`: a tenant reads and replaces its own billing profile; a
platform_admin names the tenant with `?tenant_id=` (required for it)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from arcadia_cloud.errors import field_error
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import TenantScopedMixin
from customers.api.serializers import BillingProfileQuerySerializer, BillingProfileSerializer
from customers.models import BillingProfile
from customers.selectors import billing_profile_of
from customers.services import billing_profile_save

TENANT_PARAMETER = OpenApiParameter(
    "tenant_id", str, description="platform_admin only, and required for it: whose profile."
)


def _body(tenant_id: str, profile: BillingProfile | None) -> dict:
    if profile is None:
        return {
            "tenant_id": tenant_id,
            "exists": False,
            "legal_name": "",
            "abn": "",
            "address": "",
            "billing_emails": [],
            "payment_terms_days": None,
            "updated_at": None,
        }
    return {
        "tenant_id": profile.tenant_id,
        "exists": True,
        "legal_name": profile.legal_name,
        "abn": profile.abn,
        "address": profile.address,
        "billing_emails": list(profile.billing_emails),
        "payment_terms_days": profile.payment_terms_days,
        "updated_at": profile.updated_at,
    }


@extend_schema(tags=["billing profile"], parameters=[TENANT_PARAMETER])
class BillingProfileView(TenantScopedMixin, generics.GenericAPIView):
    serializer_class = BillingProfileSerializer

    def get_queryset(self):
        return self.scope_queryset(BillingProfile.objects.all())

    def get_object(self):
        """The profile is the caller's own (or the one an admin names), never looked up from
        the URL; OPTIONS describes the form without one."""
        return None

    def _tenant(self) -> str:
        principal = self.principal
        if not principal.is_platform_admin:
            return principal.tenant_id
        # Parsed like every input (a NUL or an over-long id is a 400 naming it, never a 500).
        query = parse_input(BillingProfileQuerySerializer, self.request.query_params)
        requested = (query.get("tenant_id") or "").strip()
        if not requested:
            raise field_error("tenant_id", "a platform_admin names the tenant: ?tenant_id=...")
        return requested

    @extend_schema(responses={200: BillingProfileSerializer})
    def get(self, request):
        tenant_id = self._tenant()
        return Response(
            BillingProfileSerializer(_body(tenant_id, billing_profile_of(tenant_id))).data
        )

    @extend_schema(
        request=BillingProfileSerializer,
        responses={
            200: BillingProfileSerializer,
            400: OpenApiResponse(description="A field is wrong (a bad ABN, email...), named."),
        },
    )
    def put(self, request):
        tenant_id = self._tenant()
        data = parse_input(BillingProfileSerializer, request.data)
        profile = billing_profile_save(tenant_id=tenant_id, actor=request.user.actor, **data)
        return Response(BillingProfileSerializer(_body(tenant_id, profile)).data)
