"""Dunning in the admin: the policy (changes audited), each invoice's and deployment's steps,
the queue of droplet power actions (Confirm / Dismiss) and the aged-receivables table."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import CALLER_ERRORS
from deployments.admin import DeploymentAdmin
from deployments.models import Deployment
from dunning.infrastructure import infrastructure_actions_confirm, infrastructure_actions_dismiss
from dunning.models import (
    DunningPolicy,
    DunningPolicyChange,
    DunningStep,
    InfrastructureAction,
)
from dunning.policy import EDITABLE, dunning_policy_save
from dunning.selectors import aged_receivables
from invoicing.changes.admin import DeploymentWithChangesAdmin


class DunningPolicyChangeInline(admin.TabularInline):
    model = DunningPolicyChange
    extra = 0
    can_delete = False
    fields = ("occurred_at", "actor", "changes")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DunningPolicy)
class DunningPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "is_default",
        "reminder_offsets",
        "past_due_after_days",
        "suspend_after_days",
        "power_off_on_suspend",
        "updated_at",
    )
    fields = EDITABLE
    inlines = [DunningPolicyChangeInline]
    actions = None

    def save_model(self, request, obj, form, change):
        # Through the service: validated, the previous default demoted, the change audited.
        values = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        target = DunningPolicy.objects.get(pk=obj.pk) if change else DunningPolicy()
        saved = dunning_policy_save(
            policy=target, values=values, actor=f"admin:{request.user.get_username()}"
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DunningStep)
class DunningStepAdmin(admin.ModelAdmin):
    list_display = (
        "invoice",
        "deployment",
        "kind",
        "offset_days",
        "outcome",
        "due_day",
        "recorded_at",
        "applied_at",
        "detail",
    )
    list_filter = ("kind", "outcome")
    search_fields = ("=invoice__number", "=deployment__slug", "=invoice__tenant_id")
    list_select_related = ("invoice", "deployment")
    raw_id_fields = ("invoice", "deployment")
    readonly_fields = [f.name for f in DunningStep._meta.fields]
    actions = None

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(InfrastructureAction)
class InfrastructureActionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "deployment",
        "resource",
        "attempts",
        "last_error",
        "decided_by",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "kind")
    list_select_related = ("deployment", "resource")
    search_fields = ("=deployment__slug", "=resource__provider_id")
    readonly_fields = [f.name for f in InfrastructureAction._meta.fields]
    actions = ["confirm_selected", "dismiss_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the queue is the record of what was asked and decided

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dunning.decide_infrastructure_action")

    @admin.action(description="Confirm (send to DigitalOcean)", permissions=["decide"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet):
        self._decide(request, queryset, infrastructure_actions_confirm, "confirmed")

    @admin.action(description="Dismiss (do nothing)", permissions=["decide"])
    def dismiss_selected(self, request: HttpRequest, queryset: QuerySet):
        self._decide(request, queryset, infrastructure_actions_dismiss, "dismissed")

    def _decide(self, request, queryset, service, verb: str) -> None:
        try:
            changed = service(
                action_ids=list(queryset.values_list("pk", flat=True)),
                actor=f"admin:{request.user.get_username()}",
            )
        except CALLER_ERRORS as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        skipped = queryset.count() - changed
        note = f" ({skipped} not pending or failed: left as they were)" if skipped else ""
        self.message_user(request, f"{changed} action(s) {verb}{note}.", messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view(self.receivables_view)
        return [path("receivables/", view, name="dunning_receivables"), *super().get_urls()]

    def receivables_view(self, request: HttpRequest):
        """The aged-receivables table (operators and finance: whoever may view invoices)."""
        if not request.user.has_perm("invoicing.view_tenantinvoice"):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        today = utc_today()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Aged receivables as of {today.isoformat()}",
            "rows": [row.as_dict() for row in aged_receivables(today=today)],
        }
        return TemplateResponse(request, "admin/dunning/receivables.html", context)


class DunningStepInline(admin.TabularInline):
    """A deployment's dunning history, on its change page."""

    model = DunningStep
    fk_name = "deployment"
    extra = 0
    can_delete = False
    fields = ("recorded_at", "invoice", "kind", "outcome", "due_day", "applied_at", "detail")
    readonly_fields = fields
    ordering = ("recorded_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeploymentWithDunningAdmin(DeploymentWithChangesAdmin):
    """Deployments' admin with their dunning history, on top of invoicing's (its plan-change
    actions). Registered here, the floor above both, so neither imports dunning."""

    inlines = [*DeploymentAdmin.inlines, DunningStepInline]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else DeploymentAdmin.inlines


admin.site.unregister(Deployment)
admin.site.register(Deployment, DeploymentWithDunningAdmin)
