"""Small pieces every app's admin uses: the guard on every changelist, who the operator is,
read-only audit views, and how a form instance adopts the row a service created."""

from __future__ import annotations

import functools

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect


class FilterInputChangeList(ChangeList):
    """A changelist that treats a filter value it cannot read as bad input, not as a bug.

    Django does so for some of the lookups it applies itself, not for all: a list filter's own
    `queryset` handing `2026-13` to a date column raised the column's ValidationError straight
    through, and a date-hierarchy year beyond what a date holds an OverflowError — 500s. Here
    any such error becomes Django's IncorrectLookupParameters: the list is shown unfiltered.
    """

    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class FilterInputGuard:
    """Mixed into every registered ModelAdmin (`guard_every_changelist`): bad filter, search or
    date-hierarchy input shows the changelist, unfiltered, with an error message saying what
    was not understood (Django's redirect to `?e=1`), never a 500; an action posted with
    selected ids its table cannot hold runs on nothing and says so. NUL characters in any admin
    query are dropped earlier, by `arcadia_cloud.request_text.RequestTextMiddleware`."""

    def response_action(self, request: HttpRequest, queryset):
        primary_key = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                primary_key.run_validators(primary_key.to_python(value))
        except ValidationError as exc:
            reason = " ".join(exc.messages)
            self.message_user(
                request,
                f"The selected rows could not be read ({reason}); nothing was done.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def get_changelist(self, request: HttpRequest, **kwargs):
        return _guarded(super().get_changelist(request, **kwargs))

    def get_changelist_instance(self, request: HttpRequest):
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            if ERROR_FLAG not in request.GET:
                self.message_user(
                    request,
                    f"The list could not be filtered as asked ({_reason(exc)}); showing it "
                    "unfiltered.",
                    messages.ERROR,
                )
            raise


@functools.cache
def _guarded(changelist_class: type[ChangeList]) -> type[ChangeList]:
    if issubclass(changelist_class, FilterInputChangeList):
        return changelist_class
    return type(
        f"FilterInput{changelist_class.__name__}", (FilterInputChangeList, changelist_class), {}
    )


def _reason(exc: IncorrectLookupParameters) -> str:
    cause = exc.args[0] if exc.args else exc
    if isinstance(cause, ValidationError):
        return " ".join(cause.messages)
    return str(cause) or type(cause).__name__


def guard_every_changelist(site: admin.AdminSite = admin.site) -> None:
    """Re-register every ModelAdmin of `site` — ours and the third-party ones (auth, Celery
    beat) — with FilterInputGuard mixed in, so no changelist can be left out by forgetting a
    base class. Run once the admin modules are loaded (`ArcadiaCloudConfig.ready`)."""
    for model, model_admin in list(site._registry.items()):
        admin_class = type(model_admin)
        if isinstance(model_admin, FilterInputGuard):
            continue
        guarded = type(admin_class.__name__, (FilterInputGuard, admin_class), {})
        guarded.__module__ = admin_class.__module__
        guarded.__qualname__ = admin_class.__qualname__
        site.unregister(model)
        site.register(model, guarded)


def admin_actor(request: HttpRequest) -> str:
    """How an operator is named in audit rows."""
    return f"admin:{request.user.get_username()}"


def adopt_created(obj, created) -> None:
    """Make the admin's unsaved form instance stand for the row a service created, so the
    admin's own bookkeeping (log entry, redirect) refers to it."""
    obj.pk = created.pk
    obj._state.adding = False
    obj._state.db = created._state.db
    for field in created._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))


class ReadOnlyAdminMixin:
    """Audit rows and mirrored data: visible, never added, changed or deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
