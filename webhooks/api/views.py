"""Webhook endpoints API: tenants manage their own (another tenant's is a 404); platform_admin
manages any tenant's. The secret is in the create response only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import TenantScopedMixin
from webhooks import services
from webhooks.api.serializers import (
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
from webhooks.models import WebhookEndpoint


@extend_schema(tags=["webhooks"])
class WebhookEndpointListView(TenantScopedMixin, generics.ListCreateAPIView):
    """The caller's webhook endpoints; register one (the secret is shown once, here)."""

    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return self.scope_queryset(WebhookEndpoint.objects.order_by("tenant_id", "id"))

    @extend_schema(
        request=WebhookEndpointCreateSerializer, responses={201: WebhookEndpointCreatedSerializer}
    )
    def post(self, request):
        data = dict(parse_input(WebhookEndpointCreateSerializer, request.data))
        tenant_id = self.tenant_for_write(data.pop("tenant_id", None))
        endpoint = services.webhook_endpoint_create(
            tenant_id=tenant_id, url=data["url"], events=data["events"], actor=request.user.actor
        )
        body = WebhookEndpointCreatedSerializer(endpoint).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class WebhookEndpointDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    """One endpoint (no secret); change its URL, events or re-enable it; delete it."""

    serializer_class = WebhookEndpointSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return self.scope_queryset(WebhookEndpoint.objects.all())

    @extend_schema(request=WebhookEndpointUpdateSerializer, responses=WebhookEndpointSerializer)
    def patch(self, request, pk):
        endpoint = self.get_object()
        values = parse_input(WebhookEndpointUpdateSerializer, request.data)
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint, values=values, actor=request.user.actor
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        endpoint = self.get_object()
        services.webhook_endpoint_delete(endpoint=endpoint, actor=request.user.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
