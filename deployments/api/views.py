"""Deployments API. Tenants see and change only their own deployments (another tenant's is a
404, via TenantScopedMixin); platform_admin sees every tenant and alone attaches resources."""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, status
from rest_framework.response import Response

from arcadia_cloud.errors import Conflict
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.permissions import IsPlatformAdmin, TenantScopedMixin
from deployments import selectors, services
from deployments.api.serializers import (
    AttachOutcomeSerializer,
    AttachResourcesSerializer,
    DeploymentCreateSerializer,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    ExtendTrialSerializer,
    SubscribeSerializer,
    TransitionSerializer,
)
from deployments.models import Deployment, DeploymentState, Subscription


class DeploymentFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=DeploymentState.choices)
    tenant_id = extend_schema_field(str)(
        filters.CharFilter(help_text="platform_admin only (others only ever see their own)")
    )

    class Meta:
        model = Deployment
        fields = ["state", "tenant_id"]


@extend_schema(tags=["deployments"])
class DeploymentListView(TenantScopedMixin, generics.ListCreateAPIView):
    """Deployments with their subscription; create one (tenant_id forced to the caller's own
    unless the caller is platform_admin)."""

    serializer_class = DeploymentSerializer
    filterset_class = DeploymentFilter

    def get_queryset(self):
        return self.scope_queryset(selectors.deployments_list())

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentDetailSerializer})
    def post(self, request):
        data = dict(parse_input(DeploymentCreateSerializer, request.data))
        tenant_id = self.tenant_for_write(data.pop("tenant_id", None))
        deployment = services.deployment_create(
            **data, tenant_id=tenant_id, actor=request.user.actor
        )
        return Response(_detail_body(deployment.pk), status=status.HTTP_201_CREATED)


@extend_schema(tags=["deployments"])
class DeploymentDetailView(TenantScopedMixin, generics.RetrieveAPIView):
    """A deployment with its subscription (snapshotted add-ons, history) and state events."""

    serializer_class = DeploymentDetailSerializer

    def get_queryset(self):
        return self.scope_queryset(selectors.deployments_with_details())


class _DeploymentActionView(TenantScopedMixin, generics.GenericAPIView):
    """POST on one deployment the caller may see; others' deployments are 404."""

    serializer_class = DeploymentDetailSerializer

    def get_queryset(self):
        return self.scope_queryset(Deployment.objects.all())


@extend_schema(tags=["deployments"])
class DeploymentTransitionView(_DeploymentActionView):
    """Move a deployment to another state. 422 lists the allowed targets; tenants may only
    pause, resume and cancel (403 otherwise)."""

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: DeploymentDetailSerializer,
            403: OpenApiResponse(
                description="An operator-only transition asked for by a tenant, or a "
                "gateway-only token."
            ),
            422: OpenApiResponse(
                description="Not an edge of the state map from the deployment's state "
                "(`from_state` and the `allowed` targets listed)."
            ),
        },
    )
    def post(self, request, pk: int):
        data = parse_input(TransitionSerializer, request.data)
        deployment = services.deployment_transition(
            deployment=self.get_object(),
            to_state=data["to_state"],
            reason=data["reason"],
            actor=request.user.actor,
            by_tenant=not self.principal.is_platform_admin,
        )
        return Response(_detail_body(deployment.pk))


@extend_schema(tags=["deployments"])
class DeploymentSubscribeView(_DeploymentActionView):
    """Subscribe a deployment to a plan's active version, with add-ons priced as of now."""

    @extend_schema(request=SubscribeSerializer, responses={201: DeploymentDetailSerializer})
    def post(self, request, pk: int):
        deployment = self.get_object()
        data = parse_input(SubscribeSerializer, request.data)
        services.subscription_create(
            deployment=deployment,
            plan_code=data["plan_code"],
            addon_codes=data["addons"],
            starts_on=data["starts_on"],
            trial_days=data["trial_days"],
            actor=request.user.actor,
            by_tenant=not self.principal.is_platform_admin,
        )
        return Response(_detail_body(deployment.pk), status=status.HTTP_201_CREATED)


@extend_schema(tags=["deployments"])
class ScheduledChangeCancelView(_DeploymentActionView):
    """Cancel the plan change scheduled for the period end (409 when none is pending)."""

    @extend_schema(request=None, responses={200: DeploymentDetailSerializer})
    def post(self, request, pk: int):
        deployment = self.get_object()
        subscription = _subscription_required(deployment)
        services.subscription_scheduled_change_cancel(
            subscription=subscription, actor=request.user.actor
        )
        return Response(_detail_body(deployment.pk))


@extend_schema(tags=["deployments"])
class ExtendTrialView(_DeploymentActionView):
    """Extend a running trial by some days (platform_admin); recorded on the subscription."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=ExtendTrialSerializer, responses={200: DeploymentDetailSerializer})
    def post(self, request, pk: int):
        data = parse_input(ExtendTrialSerializer, request.data)
        deployment = self.get_object()
        services.subscription_extend_trial(
            subscription=_subscription_required(deployment),
            days=data["days"],
            actor=request.user.actor,
        )
        return Response(_detail_body(deployment.pk))


def _subscription_required(deployment: Deployment) -> Subscription:
    subscription = Subscription.objects.filter(deployment=deployment).first()
    if subscription is None:
        raise Conflict(f"deployment {deployment} has no subscription", code="not_subscribed")
    return subscription


@extend_schema(tags=["deployments"])
class DeploymentResourcesView(_DeploymentActionView):
    """Attach cloud resources to a deployment (platform_admin). 409 for a resource attached to
    another deployment unless `reassign` is true."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = AttachOutcomeSerializer

    @extend_schema(request=AttachResourcesSerializer, responses=AttachOutcomeSerializer)
    def post(self, request, pk: int):
        data = parse_input(AttachResourcesSerializer, request.data)
        outcome = services.deployment_attach_resources(
            deployment=self.get_object(),
            resource_ids=data["resource_ids"],
            reassign=data["reassign"],
            actor=request.user.actor,
        )
        return Response(AttachOutcomeSerializer(outcome).data)


def _detail_body(deployment_id: int) -> dict:
    return DeploymentDetailSerializer(
        selectors.deployments_with_details().get(pk=deployment_id)
    ).data
