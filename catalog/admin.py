"""The catalog in the operators' admin.

Operators create draft versions, edit their items while they are drafts, and publish them after
a confirmation page that shows which version the publish retires and how many subscriptions
stay on it. Published versions are read-only here (and refused by the model and the services).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin, admin_actor, adopt_created
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.money import format_decimal
from catalog import services
from catalog.models import (
    Addon,
    Plan,
    PlanItem,
    PlanVersion,
    PlanVersionStatus,
    ProviderPrice,
    ResourcePrice,
)
from catalog.selectors import resource_prices_overlapping

# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


class PlanVersionInline(admin.TabularInline):
    """A read-only summary of each version; the link opens the version's own page."""

    model = PlanVersion
    fields = ("number", "status", "base_price_cents", "currency", "published_at", "retired_at")
    readonly_fields = fields
    ordering = ("-number",)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "active_version", "version_count")
    search_fields = ("code", "name")
    inlines = [PlanVersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        active = PlanVersion.objects.filter(
            plan=OuterRef("pk"), status=PlanVersionStatus.ACTIVE
        ).values("number")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(active_number=Subquery(active), versions_total=Count("versions"))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None):
        return ("code",) if obj else ()

    @admin.display(description="active version", ordering="active_number")
    def active_version(self, plan: Plan) -> str:
        return f"v{plan.active_number}" if plan.active_number else "—"

    @admin.display(description="versions", ordering="versions_total")
    def version_count(self, plan: Plan) -> int:
        return plan.versions_total


# ---------------------------------------------------------------------------------------------
# Plan versions
# ---------------------------------------------------------------------------------------------


class PlanItemInline(admin.TabularInline):
    """Items are edited here only while the version is a draft."""

    model = PlanItem
    fields = (
        "resource_kind",
        "included_qty",
        "overage_unit",
        "overage_price_cents",
        "hard_cap_qty",
    )
    extra = 0

    def _editable(self, obj: PlanVersion | None) -> bool:
        return obj is None or obj.status == PlanVersionStatus.DRAFT

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(PlanVersion)
class PlanVersionAdmin(admin.ModelAdmin):
    list_display = ("plan", "number", "status", "base_price_cents", "currency", "published_at")
    list_filter = ("status", "plan")
    list_select_related = ("plan",)
    ordering = ("plan__code", "-number")
    search_fields = ("plan__code", "plan__name")
    inlines = [PlanItemInline]
    actions = ["publish_selected"]
    fields = (
        "plan",
        "number",
        "status",
        "base_price_cents",
        "currency",
        "created_by",
        "published_at",
        "published_by",
        "retired_at",
        "publish_link",
    )
    LIFECYCLE_READONLY = (
        "number",
        "status",
        "created_by",
        "published_at",
        "published_by",
        "retired_at",
        "publish_link",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: PlanVersion | None = None):
        if obj is None:
            return self.LIFECYCLE_READONLY
        if obj.status != PlanVersionStatus.DRAFT:
            return self.fields
        return ("plan", *self.LIFECYCLE_READONLY)

    def has_change_permission(self, request: HttpRequest, obj: PlanVersion | None = None) -> bool:
        # Published versions open as a read-only page; their items inline follow suit.
        if obj is not None and obj.status != PlanVersionStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PlanVersion | None = None) -> bool:
        if obj is not None and obj.status != PlanVersionStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("catalog.publish_planversion")

    def save_model(self, request: HttpRequest, obj: PlanVersion, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new version gets its number under the plan's lock: the service does that.
        created = services.plan_version_create(
            plan=obj.plan,
            base_price_cents=obj.base_price_cents,
            currency=obj.currency,
            items=(),
            actor=admin_actor(request),
        )
        adopt_created(obj, created)

    @admin.display(description="publish")
    def publish_link(self, version: PlanVersion) -> str:
        if version.pk is None or version.status != PlanVersionStatus.DRAFT:
            return "—"
        url = reverse("admin:catalog_planversion_publish", args=[version.pk])
        return format_html('<a class="button" href="{}">Publish this version…</a>', url)

    # -- publishing ----------------------------------------------------------------------------

    def get_urls(self):
        publish = path(
            "<path:object_id>/publish/",
            self.admin_site.admin_view(self.publish_view),
            name="catalog_planversion_publish",
        )
        return [publish, *super().get_urls()]

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirmation page for one draft (GET), and the publish itself (POST)."""
        if not self.has_publish_permission(request):
            raise PermissionDenied
        version = PlanVersion.objects.filter(pk=unquote(object_id)).select_related("plan").first()
        if version is None:
            raise Http404("no such plan version")
        if request.method == "POST":
            self._publish(request, [version])
            return redirect("admin:catalog_planversion_change", version.pk)
        return self._confirmation(request, [version], action=None)

    @admin.action(description="Publish the selected draft versions…", permissions=["publish"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[PlanVersion]):
        versions = list(queryset.select_related("plan").order_by("plan__code", "number"))
        problem = _selection_problem(versions)
        if problem:
            self.message_user(request, problem, messages.ERROR)
            return None
        if request.POST.get("confirm") == "yes":
            self._publish(request, versions)
            return None
        return self._confirmation(request, versions, action="publish_selected")

    def _publish(self, request: HttpRequest, versions: list[PlanVersion]) -> None:
        for version in versions:
            try:
                outcome = services.plan_version_publish(version=version, actor=admin_actor(request))
            except CALLER_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            retired = f"; retired v{outcome.retired.number}" if outcome.retired else ""
            self.message_user(request, f"Published {version.plan.code} v{version.number}{retired}.")

    def publish_preview_extra(self, request: HttpRequest, version: PlanVersion) -> str:
        """More for the confirmation to show about publishing `version` (safe HTML); an app
        on a higher floor that subclasses this admin adds it (analytics: the re-rating)."""
        return ""

    def _confirmation(
        self, request: HttpRequest, versions: list[PlanVersion], *, action: str | None
    ) -> TemplateResponse:
        rows = [
            {**_publish_preview(version), "extra": self.publish_preview_extra(request, version)}
            for version in versions
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Publish plan versions",
            "opts": self.model._meta,
            "rows": rows,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/catalog/planversion/publish_confirmation.html", context
        )


def _selection_problem(versions: list[PlanVersion]) -> str | None:
    not_drafts = [f"{v.plan.code} v{v.number}" for v in versions if v.status != "draft"]
    if not_drafts:
        return f"Only drafts can be published; not drafts: {', '.join(not_drafts)}."
    plans = [v.plan.code for v in versions]
    repeated = sorted({code for code in plans if plans.count(code) > 1})
    if repeated:
        return f"Select at most one draft per plan (several selected for {', '.join(repeated)})."
    return None


def _publish_preview(version: PlanVersion) -> dict:
    """What publishing `version` does: the version it retires and who stays on that one."""
    active = (
        PlanVersion.objects.filter(plan_id=version.plan_id, status=PlanVersionStatus.ACTIVE)
        .annotate(subscriber_count=Count("subscriptions"))
        .first()
    )
    items = [
        {
            "resource_kind": item.resource_kind,
            "included": format_decimal(item.included_qty),
            "overage": f"{item.overage_price_cents}c / {item.overage_unit}",
            "hard_cap": "—" if item.hard_cap_qty is None else format_decimal(item.hard_cap_qty),
        }
        for item in version.items.order_by("id")
    ]
    return {"version": version, "items": items, "retires": active}


# ---------------------------------------------------------------------------------------------
# Add-ons
# ---------------------------------------------------------------------------------------------


@admin.register(Addon)
class AddonAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "resource_kind",
        "qty",
        "price_cents",
        "currency",
        "is_active",
    )
    list_filter = ("is_active", "resource_kind")
    search_fields = ("code", "name")
    actions = ["activate_selected", "deactivate_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Addon | None = None):
        # Code, kind and currency say what an add-on IS; a different one is a new add-on.
        return ("code", "resource_kind", "currency", "is_active") if obj else ("is_active",)

    def save_model(self, request: HttpRequest, obj: Addon, form, change: bool) -> None:
        if change:
            services.addon_update(
                addon=obj, name=obj.name, qty=obj.qty, price_cents=obj.price_cents
            )
            return
        created = services.addon_create(
            code=obj.code,
            name=obj.name,
            resource_kind=obj.resource_kind,
            qty=obj.qty,
            price_cents=obj.price_cents,
            currency=obj.currency,
        )
        adopt_created(obj, created)

    @admin.action(description="Activate the selected add-ons", permissions=["change"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Addon]) -> None:
        for addon in queryset.order_by("pk"):
            services.addon_activate(addon=addon)
        self.message_user(request, f"Activated {queryset.count()} add-on(s).")

    @admin.action(description="Deactivate the selected add-ons", permissions=["change"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[Addon]) -> None:
        for addon in queryset.order_by("pk"):
            services.addon_deactivate(addon=addon)
        self.message_user(
            request,
            f"Deactivated {queryset.count()} add-on(s); subscribers keep them at their price.",
        )


# ---------------------------------------------------------------------------------------------
# Resource prices
# ---------------------------------------------------------------------------------------------


class ResourcePriceForm(forms.ModelForm):
    supersede = forms.BooleanField(
        required=False,
        initial=True,
        label="End the current open-ended price",
        help_text="An open-ended price from an earlier date ends the day this one starts.",
    )

    class Meta:
        model = ResourcePrice
        fields = (
            "resource_kind",
            "unit",
            "price_cents",
            "currency",
            "effective_from",
            "effective_to",
            "size_scope",
            "markup_percent",
        )
        help_texts = {
            "size_scope": "Blank: every size. A size slug (m-24vcpu-192gb) or a family prefix "
            "ending in '-' (gpu-): the most specific price of a size wins.",
            "markup_percent": "Cost-plus: DigitalOcean's list price of the size x (1 + markup "
            "/ 100), converted at the period's FX rate. Leave price_cents at 0.",
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for name, clean in (
            ("size_scope", services.clean_size_scope),
            ("markup_percent", services.clean_markup),
        ):
            try:
                cleaned[name] = clean(name, cleaned.get(name))
            except CALLER_ERRORS as exc:
                self.add_error(name, str(getattr(exc, "message", exc)))
        if self.errors:
            return cleaned
        overlapping = list(
            resource_prices_overlapping(
                resource_kind=cleaned["resource_kind"],
                currency=cleaned["currency"],
                start=cleaned["effective_from"],
                end=cleaned.get("effective_to"),
                size_scope=cleaned.get("size_scope") or "",
            )
        )
        supersedable = (
            cleaned.get("supersede")
            and cleaned.get("effective_to") is None
            and len(overlapping) == 1
            and overlapping[0].effective_to is None
            and overlapping[0].effective_from < cleaned["effective_from"]
        )
        if overlapping and not supersedable:
            raise forms.ValidationError(
                f"Overlaps {overlapping[0]}; prices of a kind and currency must not overlap."
            )
        return cleaned


@admin.register(ResourcePrice)
class ResourcePriceAdmin(admin.ModelAdmin):
    """Prices are history: add a successor (which ends the current one) instead of editing."""

    form = ResourcePriceForm
    list_display = (
        "resource_kind",
        "size_scope",
        "unit",
        "price_cents",
        "markup_percent",
        "currency",
        "effective_from",
        "effective_to",
    )
    list_filter = ("resource_kind", "currency")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ResourcePrice, form, change: bool) -> None:
        created = services.resource_price_create(
            resource_kind=obj.resource_kind,
            unit=obj.unit,
            price_cents=obj.price_cents,
            currency=obj.currency,
            effective_from=obj.effective_from,
            effective_to=obj.effective_to,
            supersede=form.cleaned_data.get("supersede", False),
            size_scope=obj.size_scope,
            markup_percent=obj.markup_percent,
        )
        adopt_created(obj, created)


# ---------------------------------------------------------------------------------------------
# DigitalOcean's price list (issue 18): read-only, written by the daily sync
# ---------------------------------------------------------------------------------------------


@admin.register(ProviderPrice)
class ProviderPriceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """DigitalOcean's list prices as synced (`manage.py sync_provider_prices`, daily): history,
    never edited by hand."""

    list_display = (
        "provider_kind",
        "size_slug",
        "unit",
        "price_hourly",
        "price_monthly",
        "memory_mb",
        "vcpus",
        "effective_from",
        "effective_to",
        "source",
    )
    list_filter = ("provider_kind", "source")
    search_fields = ("size_slug",)
