"""Admin actions on other apps' changelists that act on deployments.

`attach_resources_action` belongs on the CloudResource changelist (deployments/admin.py adds it
to inventory's resource admin): operators select resources, pick a deployment on an intermediate
page and the selection is attributed through `deployment_attach_resources` — one update, one
`attributed` event each.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from arcadia_cloud.errors import CALLER_ERRORS
from deployments.models import Deployment, DeploymentState
from deployments.services import deployment_attach_resources
from inventory.models import CloudResource


class AttachResourcesForm(forms.Form):
    deployment = forms.ModelChoiceField(
        queryset=Deployment.objects.exclude(state=DeploymentState.ARCHIVED),
        help_text="Type a deployment id or use the magnifier to find one.",
    )
    reassign = forms.BooleanField(
        required=False,
        label="Move resources attached to another deployment",
        help_text="Unticked, a resource that already belongs elsewhere stops the whole attach.",
    )

    def __init__(self, *args, admin_site: admin.AdminSite, **kwargs):
        super().__init__(*args, **kwargs)
        # A raw-id box with a lookup popup: a select of 20,000 deployments would not do.
        relation = CloudResource._meta.get_field("deployment").remote_field
        self.fields["deployment"].widget = ForeignKeyRawIdWidget(relation, admin_site)


@admin.action(description="Attach to a deployment…", permissions=["change"])
def attach_resources_action(modeladmin, request: HttpRequest, queryset: QuerySet[CloudResource]):
    """Intermediate page (choose a deployment), then one bulk attach of the selection."""
    submitted = "apply" in request.POST
    form = AttachResourcesForm(
        request.POST if submitted else None, admin_site=modeladmin.admin_site
    )
    if not (submitted and form.is_valid()):
        return _render_form(modeladmin, request, queryset, form)
    deployment = form.cleaned_data["deployment"]
    try:
        outcome = deployment_attach_resources(
            deployment=deployment,
            resource_ids=list(queryset.values_list("pk", flat=True)),
            reassign=form.cleaned_data["reassign"],
            actor=f"admin:{request.user.get_username()}",
        )
    except CALLER_ERRORS as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return None
    moved = ""
    if outcome.reassigned:
        moved = f" ({len(outcome.reassigned)} moved from other deployments)"
    modeladmin.message_user(
        request,
        f"Attached {len(outcome.attached)} resource(s) to {deployment}{moved}; "
        f"{len(outcome.unchanged)} were already attached to it.",
    )
    return None


def _render_form(
    modeladmin, request: HttpRequest, queryset: QuerySet[CloudResource], form
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Attach resources to a deployment",
        "opts": modeladmin.model._meta,
        "form": form,
        "resources": queryset.select_related("deployment").order_by("kind", "name", "pk"),
        "action_name": request.POST.get("action", "attach_resources_action"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/deployments/attach_resources.html", context)
