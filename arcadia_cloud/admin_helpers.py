"""Small pieces every app's admin uses: who the operator is, read-only audit views, and how a
form instance adopts the row a service created."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


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
