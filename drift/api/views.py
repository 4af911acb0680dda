"""Drift API, platform_admin only: the inbox and its history, accept, and desired-state specs.

There is deliberately no revert endpoint: changing live infrastructure back is out of scope.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.permissions import IsPlatformAdmin
from drift.api.serializers import (
    DriftListQuerySerializer,
    DriftSerializer,
    ProvisionedInputSerializer,
    ProvisionedSerializer,
)
from drift.models import CloudDrift
from drift.selectors import drift_get, drift_list, provisioned_get, resource_get
from drift.services import drift_accept, provisioned_record

NOT_FOUND = OpenApiResponse(description="No such object.")


class DriftListView(ListAPIView):
    """Open drift (the inbox) by default; `?status=` for history."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = DriftSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[CloudDrift]:
        query = DriftListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return drift_list(
            status=params["status"], resource_id=params.get("resource"), field=params.get("field")
        )

    @extend_schema(operation_id="drift_list", parameters=[DriftListQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DriftAcceptView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        operation_id="drift_accept",
        summary="Adopt the live value into the spec (bumps spec_version) and close the drift.",
        request=None,
        responses={
            200: DriftSerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The drift is no longer open."),
        },
    )
    def post(self, request, drift_id: int) -> Response:
        drift_accept(drift=drift_get(drift_id=drift_id), actor=request.user.actor)
        return Response(DriftSerializer(drift_get(drift_id=drift_id)).data)


class ProvisionedView(APIView):
    """The desired state recorded for one inventory resource."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        operation_id="inventory_provisioned_retrieve",
        responses={200: ProvisionedSerializer, 404: NOT_FOUND},
    )
    def get(self, request, resource_id: int) -> Response:
        return Response(ProvisionedSerializer(provisioned_get(resource_id=resource_id)).data)

    @extend_schema(
        operation_id="inventory_provisioned_record",
        summary="Record the desired state (upsert; a changed spec bumps spec_version).",
        request=ProvisionedInputSerializer,
        responses={
            200: ProvisionedSerializer,
            400: OpenApiResponse(description="`spec` is not a valid spec object."),
            404: NOT_FOUND,
        },
    )
    def post(self, request, resource_id: int) -> Response:
        resource = resource_get(resource_id=resource_id)
        payload = ProvisionedInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        provisioned = provisioned_record(
            resource=resource, spec=payload.validated_data["spec"], actor=request.user.actor
        )
        return Response(ProvisionedSerializer(provisioned).data)
