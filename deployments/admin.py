"""Deployments and subscriptions in the operators' admin.

A deployment's state changes only through the "Change state…" action (the transition service:
transition map, event, subscription follow-up). Event histories are read-only; subscriptions
are read-only summaries (they change through the API and services, which audit every change).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from arcadia_cloud.admin_helpers import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    admin_actor,
    adopt_created,
)
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.tenancy import validate_tenant_id
from deployments import services
from deployments.admin_actions import attach_resources_action
from deployments.models import (
    Deployment,
    DeploymentEvent,
    DeploymentState,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
    SubscriptionScheduledChange,
    SubscriptionSegment,
)
from inventory.admin import CloudResourceAdmin
from inventory.models import CloudResource


class DeploymentEventInline(ReadOnlyInline):
    model = DeploymentEvent
    fields = ("occurred_at", "from_state", "to_state", "actor", "reason")
    readonly_fields = fields
    ordering = ("-occurred_at", "-id")


class SubscriptionInline(ReadOnlyInline):
    """A summary of the deployment's subscription; the link opens it with its add-ons."""

    model = Subscription
    fields = (
        "plan_version",
        "status",
        "started_on",
        "cancelled_on",
        "current_period_start",
        "current_period_end",
    )
    readonly_fields = fields
    show_change_link = True


class TransitionForm(forms.Form):
    to_state = forms.ChoiceField(choices=DeploymentState.choices, label="New state")
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class ExtendTrialForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=366, label="Extend by (days)")


def _extended(subscription: Subscription | None, days: int | None):
    if subscription is None or subscription.trial_ends_at is None or days is None:
        return None
    return subscription.trial_ends_at + dt.timedelta(days=days)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "tenant_id",
        "display_name",
        "state",
        "llm_mode",
        "plan",
        "billing_action_suspended",
        "created_at",
    )
    list_filter = ("state", "llm_mode", "billing_action_suspended")
    list_select_related = ("subscription__plan_version__plan",)
    search_fields = ("slug", "tenant_id", "display_name")
    inlines = [SubscriptionInline, DeploymentEventInline]
    actions = [
        "change_state",
        "suspend_billing_actions",
        "resume_billing_actions",
        "extend_trial",
        "cancel_scheduled_change",
    ]
    fields = (
        "tenant_id",
        "slug",
        "display_name",
        "region",
        "state",
        "llm_mode",
        "billing_action_suspended",
        "template_code",
        "template_version",
        "subscription_terms",
    )

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "tenant_id":
            field.validators.append(validate_tenant_id)  # the service's rule, shown on the form
        return field

    def get_readonly_fields(self, request: HttpRequest, obj: Deployment | None = None):
        # State moves only by transition; the flag only by its audited actions.
        always = ("state", "billing_action_suspended", "subscription_terms")
        return ("tenant_id", "slug", *always) if obj else always

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deployments are cancelled and archived, never deleted

    @admin.display(description="plan", ordering="subscription__plan_version__plan__code")
    def plan(self, deployment: Deployment) -> str:
        subscription = getattr(deployment, "subscription", None)
        return str(subscription.plan_version) if subscription else "—"

    @admin.display(description="segments, scheduled changes, trial")
    def subscription_terms(self, deployment: Deployment) -> str:
        """The subscription's segments (days on each version and add-on set), its scheduled
        changes and its trial end, one per line."""
        subscription = getattr(deployment, "subscription", None) if deployment.pk else None
        if subscription is None:
            return "—"
        rows = []
        if subscription.trial_ends_at is not None:
            rows.append(f"trial ends {subscription.trial_ends_at:%Y-%m-%d %H:%M} UTC")
        for segment in subscription.segments.select_related("plan_version__plan"):
            addons = ", ".join(addon["code"] for addon in segment.addons) or "no add-ons"
            rows.append(
                f"segment {segment.starts_on} to {segment.ends_on or 'open'}: "
                f"{segment.plan_version} ({addons})"
            )
        for change in subscription.scheduled_changes.select_related("plan_version__plan"):
            rows.append(
                f"change to {change.plan_version} on {change.effective_on}: {change.status} "
                f"(asked by {change.requested_by})"
            )
        return format_html_join(mark_safe("<br>"), "{}", ((row,) for row in rows)) or "—"

    @admin.action(description="Extend trial…", permissions=["change"])
    def extend_trial(self, request: HttpRequest, queryset: QuerySet[Deployment]):
        """Pick the days, see each trial's new end (the preview), then apply."""
        form = ExtendTrialForm(request.POST if "days" in request.POST else None)
        deployments = queryset.select_related("subscription").order_by("tenant_id", "slug")
        if not form.is_valid() or "apply" not in request.POST:
            days = form.cleaned_data["days"] if form.is_valid() else None
            rows = [
                (
                    deployment,
                    getattr(deployment, "subscription", None),
                    _extended(getattr(deployment, "subscription", None), days),
                )
                for deployment in deployments
            ]
            return TemplateResponse(
                request,
                "admin/deployments/deployment/extend_trial.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Extend trial",
                    "opts": self.model._meta,
                    "form": form,
                    "rows": rows,
                    "previewed": days is not None,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        extended = 0
        for deployment in deployments:
            try:
                subscription = Subscription.objects.get(deployment=deployment)
                services.subscription_extend_trial(
                    subscription=subscription,
                    days=form.cleaned_data["days"],
                    actor=admin_actor(request),
                )
            except Subscription.DoesNotExist:
                self.message_user(request, f"{deployment} has no subscription", messages.ERROR)
            except CALLER_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                extended += 1
        if extended:
            self.message_user(request, f"Extended the trial of {extended} deployment(s).")
        return None

    @admin.action(description="Cancel the scheduled plan change", permissions=["change"])
    def cancel_scheduled_change(self, request: HttpRequest, queryset: QuerySet[Deployment]):
        cancelled = 0
        for subscription in Subscription.objects.filter(deployment__in=queryset).order_by("pk"):
            try:
                services.subscription_scheduled_change_cancel(
                    subscription=subscription, actor=admin_actor(request)
                )
            except CALLER_ERRORS as exc:
                self.message_user(request, f"{subscription.deployment}: {exc}", messages.ERROR)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} scheduled change(s).")

    def save_model(self, request: HttpRequest, obj: Deployment, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.deployment_create(
            tenant_id=obj.tenant_id,
            slug=obj.slug,
            display_name=obj.display_name,
            region=obj.region,
            llm_mode=obj.llm_mode,
            template_code=obj.template_code,
            template_version=obj.template_version,
            actor=admin_actor(request),
        )
        adopt_created(obj, created)

    @admin.action(description="Change state…", permissions=["change"])
    def change_state(self, request: HttpRequest, queryset: QuerySet[Deployment]):
        form = TransitionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/deployments/deployment/transition.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Change deployment state",
                    "opts": self.model._meta,
                    "form": form,
                    "deployments": queryset.order_by("tenant_id", "slug"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        moved = 0
        for deployment in queryset.order_by("pk"):
            try:
                services.deployment_transition(
                    deployment=deployment,
                    to_state=form.cleaned_data["to_state"],
                    reason=form.cleaned_data["reason"],
                    actor=admin_actor(request),
                    by_tenant=False,
                )
            except CALLER_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                moved += 1
        if moved:
            self.message_user(
                request, f"Moved {moved} deployment(s) to {form.cleaned_data['to_state']}."
            )
        return None

    @admin.action(description="Suspend automated billing actions", permissions=["change"])
    def suspend_billing_actions(self, request: HttpRequest, queryset: QuerySet[Deployment]):
        self._set_billing_action_suspended(request, queryset, suspended=True)

    @admin.action(description="Resume automated billing actions", permissions=["change"])
    def resume_billing_actions(self, request: HttpRequest, queryset: QuerySet[Deployment]):
        self._set_billing_action_suspended(request, queryset, suspended=False)

    def _set_billing_action_suspended(
        self, request: HttpRequest, queryset: QuerySet[Deployment], *, suspended: bool
    ) -> None:
        changed = services.deployment_set_billing_action_suspended(
            deployment_ids=queryset.values_list("pk", flat=True),
            suspended=suspended,
            actor=admin_actor(request),
        )
        verb = "suspended" if suspended else "resumed"
        self.message_user(request, f"Billing actions {verb} on {changed} deployment(s).")


class SubscriptionAddonInline(ReadOnlyInline):
    model = SubscriptionAddon
    fields = ("code", "name", "resource_kind", "qty", "price_cents", "currency", "attached_at")
    readonly_fields = fields


class SubscriptionSegmentInline(ReadOnlyInline):
    model = SubscriptionSegment
    fields = ("starts_on", "ends_on", "plan_version", "addons")
    readonly_fields = fields


class ScheduledChangeInline(ReadOnlyInline):
    model = SubscriptionScheduledChange
    fields = ("effective_on", "plan_version", "addon_codes", "status", "requested_by")
    readonly_fields = fields


class SubscriptionEventInline(ReadOnlyInline):
    model = SubscriptionEvent
    fields = ("occurred_at", "type", "actor", "details")
    readonly_fields = fields
    ordering = ("-occurred_at", "-id")


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: add-ons carry the price snapshotted when attached."""

    list_display = ("deployment", "plan_version", "status", "started_on", "cancelled_on")
    list_filter = ("status",)
    list_select_related = ("deployment", "plan_version__plan")
    search_fields = ("deployment__slug", "deployment__tenant_id")
    inlines = [
        SubscriptionAddonInline,
        SubscriptionSegmentInline,
        ScheduledChangeInline,
        SubscriptionEventInline,
    ]


class CloudResourceWithAttachAdmin(CloudResourceAdmin):
    """Inventory's resource changelist with the action deployments adds to it: attaching the
    selection to a deployment. Registered here, the floor above inventory, so inventory's admin
    never imports the deployments app."""

    actions = [*CloudResourceAdmin.actions, attach_resources_action]


admin.site.unregister(CloudResource)
admin.site.register(CloudResource, CloudResourceWithAttachAdmin)
