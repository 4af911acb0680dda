"""Every admin action declares its permission, and each staff role is offered — and can POST —
exactly the actions the permission map below gives it.

Actions are discovered from the admin site itself: every registered ModelAdmin (ours and the
third-party ones: auth, django-celery-beat), with its own and the site-wide actions. An action
added later without a declared permission, or without an entry in ALLOWED, fails here.

The roles are the staff groups of `arcadia_cloud.roles` (operators hold every permission of the
product's apps; finance views, marks invoices paid and exports) and a staff user in no group.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.urls import reverse

from arcadia_cloud.roles import FINANCE, OPERATORS, sync_group_permissions

pytestmark = pytest.mark.django_db

STAFF = "staff without a group"
ROLES = (OPERATORS, FINANCE, STAFF)
OPS = frozenset({OPERATORS})
OPS_AND_FINANCE = frozenset({OPERATORS, FINANCE})
NOBODY: frozenset[str] = frozenset()

# model -> action -> the roles that may run it. Every action a superuser is offered is listed.
ALLOWED: dict[str, dict[str, frozenset[str]]] = {
    "analytics.fxrate": {"delete_selected": OPS},
    "auth.group": {"delete_selected": NOBODY},
    "auth.user": {"delete_selected": NOBODY},
    "billing.cloudinvoice": {
        # A re-ingest replaces the invoice's cost lines; a push tells finance its figures.
        "reingest_selected": OPS,
        "push_selected_to_finance": OPS,
        "force_push_selected_to_finance": OPS,
    },
    # Re-fetches the chosen days of DigitalOcean's daily costs and replaces their rows.
    "billing.cloudcostday": {"reingest_selected": OPS},
    "catalog.addon": {
        "activate_selected": OPS,
        "deactivate_selected": OPS,
        "delete_selected": OPS,
    },
    "catalog.plan": {"delete_selected": OPS},
    "catalog.planversion": {"delete_selected": OPS, "publish_selected": OPS},
    "deployments.deployment": {
        "change_state": OPS,
        "suspend_billing_actions": OPS,
        "resume_billing_actions": OPS,
        "extend_trial": OPS,
        "cancel_scheduled_change": OPS,
        "change_plan": OPS,
    },
    "dunning.infrastructureaction": {"confirm_selected": OPS, "dismiss_selected": OPS},
    "webhooks.webhookdelivery": {"redeliver_selected": OPS},
    "django_celery_beat.clockedschedule": {"delete_selected": OPS},
    "django_celery_beat.crontabschedule": {"delete_selected": OPS},
    "django_celery_beat.intervalschedule": {"delete_selected": OPS},
    "django_celery_beat.solarschedule": {"delete_selected": OPS},
    "django_celery_beat.periodictask": {
        "delete_selected": OPS,
        "enable_tasks": OPS,
        "disable_tasks": OPS,
        "toggle_tasks": OPS,
        "run_tasks": OPS,
    },
    "drift.clouddrift": {"accept_selected": OPS},
    "inventory.cloudresource": {"attach_resources_action": OPS},
    "invoicing.receivablepush": {"push_again_selected": OPS_AND_FINANCE},
    "invoicing.documentemail": {"resend_selected": OPS_AND_FINANCE},
    "invoicing.tenantinvoice": {
        "issue_selected": OPS,
        "void_selected": OPS,
        "regenerate_selected": OPS,
        "mark_selected_paid": OPS_AND_FINANCE,
        "export_csv": OPS_AND_FINANCE,
        "export_xlsx": OPS_AND_FINANCE,
        "export_csv_with_lines": OPS_AND_FINANCE,
        "export_xlsx_with_lines": OPS_AND_FINANCE,
    },
}
NO_SUCH_PK = "0"  # every registered model has an auto-increment primary key starting at 1


def model_admins() -> list[tuple[str, admin.ModelAdmin]]:
    return sorted(
        (
            (model._meta.label_lower, model_admin)
            for model, model_admin in admin.site._registry.items()
        ),
        key=lambda pair: pair[0],
    )


@pytest.fixture
def users() -> dict[str, object]:
    sync_group_permissions()
    model = get_user_model()
    found = {"superuser": model.objects.create_superuser("root", password="pw")}
    for group in (OPERATORS, FINANCE):
        user = model.objects.create_user(f"{group}-clerk", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        found[group] = user
    found[STAFF] = model.objects.create_user("plain-staff", password="pw", is_staff=True)
    return found


def offered(model_admin: admin.ModelAdmin, user) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(model_admin.get_actions(request))


def changelist(label: str) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_admin_action_declares_its_permission():
    undeclared, unchecked = [], []
    for label, model_admin in model_admins():
        for func, name, _ in model_admin._get_base_actions():
            permissions = getattr(func, "allowed_permissions", None)
            if not permissions:
                undeclared.append(f"{label}.{name}")
                continue
            unchecked += [
                f"{label}.{name}: no has_{permission}_permission()"
                for permission in permissions
                if not callable(getattr(model_admin, f"has_{permission}_permission", None))
            ]
    assert undeclared == [], "admin actions without permissions=[...]"
    assert unchecked == []


def test_the_permission_map_lists_exactly_the_actions_the_admin_has(users):
    discovered = {
        label: names
        for label, model_admin in model_admins()
        if (names := offered(model_admin, users["superuser"]))
    }
    assert {label: set(actions) for label, actions in ALLOWED.items()} == discovered


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_offered_exactly_its_actions(users, role):
    client = client_for(users[role])
    for label, model_admin in model_admins():
        expected = {name for name, roles in ALLOWED.get(label, {}).items() if role in roles}
        assert offered(model_admin, users[role]) == expected, label
        response = client.get(changelist(label))
        if response.status_code == 403:
            assert expected == set(), f"{label}: {role} cannot open the list but has actions"
            continue
        assert response.status_code == 200, label
        form = response.context.get("action_form")
        on_page = {name for name, _ in form.fields["action"].choices if name} if form else set()
        assert on_page == expected, label


def action_ran(response) -> bool:
    """Whether Django handed the POSTed action to its function. It did not when the changelist
    refused the user (403), rejected the choice ("No action selected.": the action is not among
    the user's), or — the user having no action there at all — simply showed the list again."""
    if response.status_code == 403:
        return False
    notes = [str(note) for note in get_messages(response.wsgi_request)]
    if "No action selected." in notes:
        return False
    shown_again = response.status_code == 200 and "cl" in (response.context or {})
    return not shown_again


@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_post_exactly_its_actions(users, role):
    """Each action is POSTed to its changelist as the admin's form sends it, selecting a row
    that does not exist: an accepted action acts on nothing, a refused one never runs."""
    for label, actions in ALLOWED.items():
        for name, roles in actions.items():
            client = client_for(users[role])  # fresh: no message left over from the last POST
            response = client.post(
                changelist(label),
                {"action": name, "index": "0", "_selected_action": [NO_SUCH_PK]},
            )
            assert response.status_code in (200, 302, 403), f"{label}.{name} as {role}"
            assert action_ran(response) is (role in roles), f"{label}.{name} as {role}"
