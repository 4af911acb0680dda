"""The "Change plan / add-ons…" action on the deployments changelist (issue 20): choose the plan,
add-ons and when, PREVIEW each deployment's invoice of the month before and after (through the
rollup's pricing path, nothing written), then apply. It lives here, not in deployments' admin,
because the preview and the invoiced-period check are invoicing's; the deployments admin is
extended and registered again, as deployments extends inventory's resource admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from arcadia_cloud.admin_helpers import admin_actor
from arcadia_cloud.errors import CALLER_ERRORS
from catalog.models import Plan
from deployments.admin import DeploymentAdmin
from deployments.models import Deployment
from deployments.services import ChangeEffective
from invoicing.changes.services import deployment_change_plan, deployment_change_plan_preview


class ChangePlanForm(forms.Form):
    plan_code = forms.ChoiceField(label="Plan")
    addons = forms.CharField(
        required=False,
        label="Add-on codes",
        help_text="Comma-separated codes wanted after the change; '-' for none; blank keeps them.",
    )
    effective = forms.ChoiceField(
        choices=[(value, value) for value in ChangeEffective.CHOICES], initial="now"
    )
    on = forms.DateField(
        required=False, help_text="An immediate change's first day (blank: today, UTC)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        codes = Plan.objects.order_by("code").values_list("code", flat=True)
        self.fields["plan_code"].choices = [(code, code) for code in codes]

    def arguments(self) -> dict:
        raw = self.cleaned_data["addons"].strip()
        addons = None if raw == "" else [] if raw == "-" else [c.strip() for c in raw.split(",")]
        return {
            "plan_code": self.cleaned_data["plan_code"],
            "addon_codes": addons,
            "effective": self.cleaned_data["effective"],
            "on": self.cleaned_data["on"],
        }


@admin.action(description="Change plan / add-ons…", permissions=["change"])
def change_plan(modeladmin, request: HttpRequest, queryset: QuerySet[Deployment]):
    submitted = "preview" in request.POST or "apply" in request.POST
    form = ChangePlanForm(request.POST if submitted else None)
    deployments = list(queryset.order_by("tenant_id", "slug"))
    if not form.is_valid() or "apply" not in request.POST:
        previews = []
        if form.is_valid():
            for deployment in deployments:
                try:
                    preview = deployment_change_plan_preview(
                        deployment=deployment,
                        actor=admin_actor(request),
                        by_operator=True,
                        **form.arguments(),
                    ).to_dict()
                except CALLER_ERRORS as exc:
                    previews.append((deployment, None, str(exc)))
                else:
                    previews.append((deployment, preview, ""))
        return TemplateResponse(
            request,
            "admin/invoicing/change_plan.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Change plan / add-ons",
                "opts": modeladmin.model._meta,
                "form": form,
                "deployments": deployments,
                "previews": previews,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
    changed = 0
    for deployment in deployments:
        try:
            deployment_change_plan(
                deployment=deployment,
                actor=admin_actor(request),
                by_operator=True,
                **form.arguments(),
            )
        except CALLER_ERRORS as exc:
            modeladmin.message_user(request, f"{deployment}: {exc}", messages.ERROR)
        else:
            changed += 1
    if changed:
        modeladmin.message_user(request, f"Changed the plan of {changed} deployment(s).")
    return None


class DeploymentWithChangesAdmin(DeploymentAdmin):
    actions = [*DeploymentAdmin.actions, change_plan]


admin.site.unregister(Deployment)
admin.site.register(Deployment, DeploymentWithChangesAdmin)
