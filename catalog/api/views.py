"""Catalog API: anyone authenticated reads the published catalog; platform_admin changes it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from arcadia_cloud.errors import NotFound
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import IsApiCaller, IsPlatformAdmin, principal_of
from catalog import selectors, services
from catalog.api.serializers import (
    AddonCreateSerializer,
    AddonSerializer,
    PlanCreateSerializer,
    PlanDetailSerializer,
    PlanItemsSerializer,
    PlanSerializer,
    PlanVersionCreateSerializer,
    PlanVersionSerializer,
    item_inputs,
)
from catalog.models import Addon, Plan, PlanVersion, PlanVersionStatus


def _is_admin(request) -> bool:
    principal = principal_of(request)
    return principal is not None and principal.is_platform_admin


class ReadAnyWriteAdmin:
    """Reads for every API caller; writes for platform_admin only."""

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsApiCaller()]
        return [IsPlatformAdmin()]


@extend_schema(tags=["catalog"])
class PlanListView(ReadAnyWriteAdmin, generics.ListCreateAPIView):
    """Plans with the active version (and items) a new signup gets; platform_admin adds plans."""

    serializer_class = PlanSerializer

    def get_queryset(self):
        return selectors.plans_with_active_version()

    @extend_schema(request=PlanCreateSerializer, responses={201: PlanSerializer})
    def post(self, request):
        data = parse_input(PlanCreateSerializer, request.data)
        plan = services.plan_create(**data)
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["catalog"])
class PlanDetailView(generics.RetrieveAPIView):
    """Every version of a plan, newest first; drafts only for platform_admin."""

    serializer_class = PlanDetailSerializer
    queryset = Plan.objects.all()
    lookup_field = "code"

    def get_object(self) -> Plan:
        plan = selectors.plan_get(code=self.kwargs["code"])
        include_drafts = _is_admin(self.request)
        plan.visible_versions = list(
            selectors.plan_versions(plan=plan, include_drafts=include_drafts)
        )
        return plan


@extend_schema(tags=["catalog"])
class PlanVersionCreateView(generics.GenericAPIView):
    """A new DRAFT version of a plan, with its items; publish it to make it what signups get."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = PlanVersionSerializer
    queryset = Plan.objects.all()
    lookup_field = "code"

    @extend_schema(request=PlanVersionCreateSerializer, responses={201: PlanVersionSerializer})
    def post(self, request, code: str):
        plan = selectors.plan_get(code=code)
        data = parse_input(PlanVersionCreateSerializer, request.data)
        version = services.plan_version_create(
            plan=plan,
            base_price_cents=data["base_price_cents"],
            currency=data["currency"],
            items=item_inputs(data),
            actor=request.user.actor,
        )
        return Response(_version_body(version.pk), status=status.HTTP_201_CREATED)


class _VersionView(generics.GenericAPIView):
    serializer_class = PlanVersionSerializer
    queryset = PlanVersion.objects.all()
    lookup_url_kwarg = "version_id"

    def get_version(self) -> PlanVersion:
        version = selectors.version_get(version_id=self.kwargs["version_id"])
        if version.status == PlanVersionStatus.DRAFT and not _is_admin(self.request):
            # A tenant cannot tell an unpublished draft from nothing at all.
            raise NotFound(f"no plan version with id {version.pk}")
        return version


@extend_schema(tags=["catalog"])
class PlanVersionDetailView(_VersionView):
    @extend_schema(responses=PlanVersionSerializer)
    def get(self, request, version_id: int):
        return Response(PlanVersionSerializer(self.get_version()).data)


@extend_schema(tags=["catalog"])
class PlanVersionItemsView(_VersionView):
    """Replace a draft's items. Published versions are immutable (409)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=PlanItemsSerializer, responses=PlanVersionSerializer)
    def put(self, request, version_id: int):
        version = self.get_version()
        data = parse_input(PlanItemsSerializer, request.data)
        services.plan_version_update_items(version=version, items=item_inputs(data))
        return Response(_version_body(version.pk))


@extend_schema(tags=["catalog"])
class PlanVersionPublishView(_VersionView):
    """Activate a draft; the plan's active version is retired in the same transaction."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=None,
        responses={
            200: PlanVersionSerializer,
            422: OpenApiResponse(description="Only a draft can be published (status named)."),
        },
    )
    def post(self, request, version_id: int):
        version = self.get_version()
        services.plan_version_publish(version=version, actor=request.user.actor)
        return Response(_version_body(version.pk))


@extend_schema(tags=["catalog"])
class AddonListView(ReadAnyWriteAdmin, generics.ListCreateAPIView):
    """Active add-ons; platform_admin may add `?include_inactive=1`."""

    serializer_class = AddonSerializer

    def get_queryset(self):
        wants_inactive = self.request.query_params.get("include_inactive") in {"1", "true"}
        return selectors.addons_list(include_inactive=wants_inactive and _is_admin(self.request))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include_inactive",
                OpenApiTypes.BOOL,
                description="platform_admin only: list deactivated add-ons too",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=AddonCreateSerializer, responses={201: AddonSerializer})
    def post(self, request):
        addon: Addon = services.addon_create(**parse_input(AddonCreateSerializer, request.data))
        return Response(AddonSerializer(addon).data, status=status.HTTP_201_CREATED)


def _version_body(version_id: int) -> dict:
    return PlanVersionSerializer(selectors.version_get(version_id=version_id)).data
