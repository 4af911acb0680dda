"""The drift inbox and provisioned specs in the operators' admin.

Drift rows are read-only here: the only change an operator makes is "accept" (single, from a
drift's page, or bulk, from the list), which goes through `drift.services.drift_accept`. There is
no revert action: changing live infrastructure back is out of scope.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin, admin_actor
from arcadia_cloud.errors import Conflict
from arcadia_cloud.validation import FieldError
from drift.models import CloudDrift, CloudProvisioned, DriftStatus
from drift.rules import spec_validate
from drift.services import drift_accept, provisioned_record

PREVIEW_CHARS = 60


def _json_text(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False)


def _json_preview(value: Any) -> str:
    text = _json_text(value)
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return format_html("<code>{}</code>", text)


def _json_block(value: Any) -> str:
    return format_html('<pre style="margin:0">{}</pre>', _json_text(value, indent=2))


@admin.register(CloudDrift)
class CloudDriftAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "resource",
        "resource_kind",
        "field",
        "expected_preview",
        "actual_preview",
        "status",
        "detected_at",
        "resolved_at",
        "resolved_by",
    )
    list_filter = ("status", "field", ("resource__kind", admin.AllValuesFieldListFilter))
    list_select_related = ("resource",)
    search_fields = ("resource__name", "resource__provider_id")
    date_hierarchy = "detected_at"
    actions = ["accept_selected"]
    fields = (
        "resource",
        "field",
        "expected_json",
        "actual_json",
        "status",
        "detected_at",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        """The inbox first (open drift, newest first), then the resolved history."""
        open_first = Case(
            When(status=DriftStatus.OPEN, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return [open_first.asc(), "-detected_at", "-id"]

    @admin.display(description="kind", ordering="resource__kind")
    def resource_kind(self, drift: CloudDrift) -> str:
        return drift.resource.kind

    @admin.display(description="expected")
    def expected_preview(self, drift: CloudDrift) -> str:
        return _json_preview(drift.expected)

    @admin.display(description="actual")
    def actual_preview(self, drift: CloudDrift) -> str:
        return _json_preview(drift.actual)

    @admin.display(description="expected")
    def expected_json(self, drift: CloudDrift) -> str:
        return _json_block(drift.expected)

    @admin.display(description="actual")
    def actual_json(self, drift: CloudDrift) -> str:
        return _json_block(drift.actual)

    def has_accept_permission(self, request: HttpRequest, obj: CloudDrift | None = None) -> bool:
        return request.user.has_perm("drift.accept_drift")

    @admin.action(description="Accept the live value into the spec", permissions=["accept"])
    def accept_selected(self, request: HttpRequest, queryset: QuerySet[CloudDrift]) -> None:
        accepted, refused = 0, []
        for drift in queryset.order_by("pk"):
            try:
                drift_accept(drift=drift, actor=admin_actor(request))
            except Conflict as exc:
                refused.append(exc.message)
            else:
                accepted += 1
        if accepted:
            self.message_user(request, f"Accepted {accepted} drift(s); their specs were updated.")
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    def get_urls(self):
        accept = path(
            "<path:object_id>/accept/",
            self.admin_site.admin_view(self.accept_view),
            name="drift_clouddrift_accept",
        )
        return [accept, *super().get_urls()]

    def accept_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The single-drift accept button on a drift's page (POST only, CSRF-checked)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_accept_permission(request):
            raise PermissionDenied
        drift = self.get_object(request, unquote(object_id))
        if drift is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        try:
            drift_accept(drift=drift, actor=admin_actor(request))
        except Conflict as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.message_user(request, f"Accepted: the spec now expects {drift.field} as live.")
        return redirect(reverse("admin:drift_clouddrift_change", args=[drift.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        drift = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            "can_accept": drift is not None
            and drift.is_open
            and self.has_accept_permission(request, drift),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)


class SpecJSONField(forms.JSONField):
    """A JSON textarea, pretty-printed so operators can read and edit nested specs."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return _json_text(value, indent=2)


class ProvisionedForm(forms.ModelForm):
    spec = SpecJSONField(
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "style": "font-family: monospace"}),
        help_text='A JSON object of field → desired value, e.g. {"size_slug": "s-2vcpu-4gb", '
        '"tags": ["web"]}. Top-level resource fields or attrs keys; "exists": true/false.',
    )

    class Meta:
        model = CloudProvisioned
        fields = ["resource", "spec"]

    def clean_spec(self) -> dict[str, Any]:
        try:
            return spec_validate(self.cleaned_data["spec"])
        except FieldError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(CloudProvisioned)
class CloudProvisionedAdmin(admin.ModelAdmin):
    """Desired-state specs; saving goes through `provisioned_record` (versioned, audited)."""

    form = ProvisionedForm
    list_display = ("resource", "resource_kind", "spec_version", "recorded_at", "recorded_by")
    list_select_related = ("resource",)
    search_fields = ("resource__name", "resource__provider_id")
    raw_id_fields = ("resource",)
    readonly_fields = ("spec_version", "recorded_at", "recorded_by")

    @admin.display(description="kind", ordering="resource__kind")
    def resource_kind(self, provisioned: CloudProvisioned) -> str:
        return provisioned.resource.kind

    def get_readonly_fields(self, request: HttpRequest, obj: CloudProvisioned | None = None):
        if obj is not None:
            return ("resource", *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(self, request, obj: CloudProvisioned | None = None) -> bool:
        return False

    def save_model(self, request, obj: CloudProvisioned, form, change: bool) -> None:
        saved = provisioned_record(
            resource=obj.resource, spec=form.cleaned_data["spec"], actor=admin_actor(request)
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
