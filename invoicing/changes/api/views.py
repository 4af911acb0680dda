"""Plan changes of a deployment (issue 20): tenants for their own deployments (another
tenant's is a 404), operators for any; only operators choose the day (`on`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import IsPlatformAdmin, TenantScopedMixin
from catalog.selectors import version_get
from deployments.api.serializers import DeploymentDetailSerializer
from deployments.models import Deployment
from deployments.selectors import deployments_with_details
from invoicing.changes import services
from invoicing.changes.api.serializers import (
    ChangePlanSerializer,
    ChangePreviewSerializer,
    MigrateSerializer,
    MigrationSerializer,
)

ERRORS = {
    400: OpenApiResponse(description="Bad input, naming the field (`plan_code`, `addons`, `on`)."),
    403: OpenApiResponse(description="`on` sent by a tenant, or a gateway-only token."),
    409: OpenApiResponse(
        description="Cancelled deployment, a change already scheduled, or a change that took "
        "effect since (two racing changes: one wins)."
    ),
}


class _ChangeView(TenantScopedMixin, generics.GenericAPIView):
    serializer_class = ChangePlanSerializer

    def get_queryset(self):
        return self.scope_queryset(Deployment.objects.all())

    def _arguments(self, request) -> dict:
        data = parse_input(ChangePlanSerializer, request.data)
        return {
            "deployment": self.get_object(),
            "plan_code": data["plan_code"],
            "addon_codes": data["addons"],
            "effective": data["effective"],
            "on": data["on"],
            "actor": request.user.actor,
            "by_operator": self.principal.is_platform_admin,
        }


@extend_schema(tags=["deployments"])
class ChangePlanView(_ChangeView):
    """Change the plan / add-ons now (the month is split into segments, each priced on its own)
    or at the period end (scheduled, cancellable until the 1st)."""

    @extend_schema(
        request=ChangePlanSerializer, responses={200: DeploymentDetailSerializer, **ERRORS}
    )
    def post(self, request, pk: int):
        arguments = self._arguments(request)
        services.deployment_change_plan(**arguments)
        deployment = deployments_with_details().get(pk=arguments["deployment"].pk)
        return Response(DeploymentDetailSerializer(deployment).data)


@extend_schema(tags=["deployments"])
class ChangePlanPreviewView(_ChangeView):
    """What the change would do to the invoice of the month it takes effect in (so far), priced
    through the rollup's path; nothing is written."""

    @extend_schema(request=ChangePlanSerializer, responses={200: ChangePreviewSerializer, **ERRORS})
    def post(self, request, pk: int):
        preview = services.deployment_change_plan_preview(**self._arguments(request))
        return Response(preview.to_dict())


@extend_schema(tags=["catalog"])
class VersionMigrateView(generics.GenericAPIView):
    """Move every subscriber of this version to another version of the same plan (platform
    admin): immediately (each month split) or from the next period. `preview` does it, prices
    the per-tenant effect and rolls back. Re-running moves only who is still on the version."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = MigrateSerializer

    @extend_schema(
        request=MigrateSerializer,
        responses={
            200: MigrationSerializer,
            400: OpenApiResponse(description="Bad input naming the field (`to_version`, `on`)."),
        },
    )
    def post(self, request, version_id: int):
        data = parse_input(MigrateSerializer, request.data)
        result = services.plan_version_migrate(
            from_version=version_get(version_id=version_id),
            to_version_id=data["to_version"],
            effective=data["effective"],
            on=data["on"],
            preview=data["preview"],
            actor=request.user.actor,
        )
        return Response(result.to_dict())
