"""Deployments API shapes. Money as integer cents, quantities as exact decimal strings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arcadia_cloud.parsing import object_id_field
from catalog.api.serializers import QuantityField
from deployments.models import (
    Deployment,
    DeploymentEvent,
    DeploymentState,
    LLMMode,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
    SubscriptionScheduledChange,
    SubscriptionSegment,
)
from inventory.models import CloudResource
from inventory.services import MAX_RESOURCES_PER_CALL

# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


class SubscriptionAddonSerializer(serializers.ModelSerializer):
    qty = QuantityField(read_only=True)

    class Meta:
        model = SubscriptionAddon
        fields = ["code", "name", "resource_kind", "qty", "price_cents", "currency", "attached_at"]
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    """A subscription's plan version and add-ons, as snapshotted when they were attached."""

    plan_code = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.number")
    plan_version_id = serializers.IntegerField()
    addons = SubscriptionAddonSerializer(many=True, read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "plan_code",
            "plan_version",
            "plan_version_id",
            "status",
            "started_on",
            "cancelled_on",
            "current_period_start",
            "current_period_end",
            "trial_ends_at",
            "addons",
        ]
        read_only_fields = fields


class SubscriptionSegmentSerializer(serializers.ModelSerializer):
    """A stretch of days on one version and add-on set (`ends_on` null: the current one)."""

    plan_code = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.number")

    class Meta:
        model = SubscriptionSegment
        fields = ["plan_code", "plan_version", "plan_version_id", "addons", "starts_on", "ends_on"]
        read_only_fields = fields


class ScheduledChangeSerializer(serializers.ModelSerializer):
    plan_code = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.number")

    class Meta:
        model = SubscriptionScheduledChange
        fields = [
            "id",
            "plan_code",
            "plan_version",
            "plan_version_id",
            "addon_codes",
            "effective_on",
            "status",
            "requested_by",
            "requested_at",
        ]
        read_only_fields = fields


class SubscriptionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriptionEvent
        fields = ["type", "details", "actor", "occurred_at"]
        read_only_fields = fields


class DeploymentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeploymentEvent
        fields = ["from_state", "to_state", "actor", "reason", "occurred_at"]
        read_only_fields = fields


DEPLOYMENT_FIELDS = [
    "id",
    "tenant_id",
    "slug",
    "display_name",
    "region",
    "state",
    "llm_mode",
    "billing_action_suspended",
    "template_code",
    "template_version",
    "created_at",
    "updated_at",
]


def _subscription_or_none(deployment: Deployment) -> Subscription | None:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    return getattr(deployment, "subscription", None)


class DeploymentSerializer(serializers.ModelSerializer):
    subscription = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [*DEPLOYMENT_FIELDS, "subscription"]
        read_only_fields = fields

    @extend_schema_field(SubscriptionSerializer(allow_null=True))
    def get_subscription(self, deployment: Deployment) -> dict | None:
        subscription = _subscription_or_none(deployment)
        return None if subscription is None else SubscriptionSerializer(subscription).data


class DeploymentDetailSerializer(DeploymentSerializer):
    """A deployment with its subscription and add-ons, its state history and the
    subscription's history (plan changes, add-ons attached, pauses, cancellation)."""

    events = DeploymentEventSerializer(many=True, read_only=True)
    subscription_events = serializers.SerializerMethodField()
    subscription_segments = serializers.SerializerMethodField()
    scheduled_changes = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [
            *DeploymentSerializer.Meta.fields,
            "events",
            "subscription_events",
            "subscription_segments",
            "scheduled_changes",
        ]
        read_only_fields = fields

    @extend_schema_field(SubscriptionSegmentSerializer(many=True))
    def get_subscription_segments(self, deployment: Deployment) -> list[dict]:
        subscription = _subscription_or_none(deployment)
        if subscription is None:
            return []
        return SubscriptionSegmentSerializer(subscription.segments.all(), many=True).data

    @extend_schema_field(ScheduledChangeSerializer(many=True))
    def get_scheduled_changes(self, deployment: Deployment) -> list[dict]:
        """Pending changes (at most one) and those applied or cancelled before, newest first."""
        subscription = _subscription_or_none(deployment)
        if subscription is None:
            return []
        return ScheduledChangeSerializer(subscription.scheduled_changes.all(), many=True).data

    @extend_schema_field(SubscriptionEventSerializer(many=True))
    def get_subscription_events(self, deployment: Deployment) -> list[dict]:
        subscription = _subscription_or_none(deployment)
        if subscription is None:
            return []
        return SubscriptionEventSerializer(subscription.events.all(), many=True).data


class AttachOutcomeSerializer(serializers.Serializer):
    attached = serializers.ListField(child=serializers.IntegerField())
    reassigned = serializers.ListField(child=serializers.IntegerField())
    unchanged = serializers.ListField(child=serializers.IntegerField())


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


class DeploymentCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=100)
    display_name = serializers.CharField(max_length=200)
    region = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    llm_mode = serializers.ChoiceField(choices=LLMMode.choices, default=LLMMode.PASSTHROUGH)
    template_code = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True, default=None
    )
    template_version = serializers.CharField(
        max_length=50, required=False, allow_null=True, allow_blank=True, default=None
    )
    tenant_id = serializers.CharField(
        max_length=200,
        required=False,
        help_text="platform_admin only; anyone else always creates in their own tenant",
    )


@extend_schema_field(
    {"type": "string", "description": f"a deployment state: {', '.join(DeploymentState.values)}"}
)
class StateNameField(serializers.ChoiceField):
    """A deployment state named in a request.

    Documented as a string rather than a second enum: drf-spectacular would name the same set
    of states twice (StateEnum, ToStateEnum) and warn. Validation still refuses other values.
    """


class TransitionSerializer(serializers.Serializer):
    to_state = StateNameField(choices=DeploymentState.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SubscribeSerializer(serializers.Serializer):
    plan_code = serializers.CharField(max_length=50)
    addons = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list, max_length=50
    )
    starts_on = serializers.DateField(required=False, allow_null=True, default=None)
    trial_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=366,
        help_text="a free trial of this many days (default: the plan version's)",
    )


class ExtendTrialSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366)


class AttachResourcesSerializer(serializers.Serializer):
    resource_ids = serializers.ListField(
        child=object_id_field(CloudResource),
        allow_empty=False,
        max_length=MAX_RESOURCES_PER_CALL,
    )
    reassign = serializers.BooleanField(required=False, default=False)
