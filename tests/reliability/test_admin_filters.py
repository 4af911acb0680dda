"""Bad list-filter, search and date-hierarchy input never 500s an admin changelist (issue 14,
item 6). The probe found 66: `%00` in a filter value on ten changelists, `?period=2026-13` on
tenant invoices and cost lines. Every registered ModelAdmin is walked, project and third-party
alike, as a superuser and as a finance clerk; the answer is the changelist (200) or Django's
redirect to it (302), and the redirect shows the reason.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse

from arcadia_cloud.admin_helpers import FilterInputGuard
from tests.reliability.world import build_world

pytestmark = pytest.mark.django_db

BAD_VALUES = ["\x00", "a\x00b", "2026-13", "99999999999999999999", "abc"]
PROJECT_APPS = {"analytics", "billing", "catalog", "deployments", "drift", "inventory", "invoicing"}


def _changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _parameters(model, model_admin, user) -> list[str]:
    """Every query parameter the changelist reads: its filters', search and date hierarchy."""
    request = RequestFactory().get(_changelist_url(model))
    request.user = user
    names = {"period"}  # the probe's; a parameter no filter takes is a lookup Django refuses
    if type(model_admin).changelist_view is admin.ModelAdmin.changelist_view:
        changelist = model_admin.get_changelist_instance(request)
        names |= {name for spec in changelist.filter_specs for name in spec.expected_parameters()}
    # else a page of its own at the changelist's URL (the margin dashboard), reading `period`
    if model_admin.get_search_fields(request):
        names.add("q")
    if model_admin.date_hierarchy:
        names |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return sorted(names)


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def finance_clerk():
    user = get_user_model().objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    return user


@pytest.mark.parametrize("who", ["superuser", "finance_clerk"])
def test_every_changelist_survives_bad_input_in_every_parameter(client, request, who):
    build_world()
    user = request.getfixturevalue(who)
    client.force_login(user)
    walked, requests = 0, 0
    for model, model_admin in admin.site._registry.items():
        url = _changelist_url(model)
        if client.get(url).status_code == 403:
            continue  # the clerk may not view it: nothing to filter
        walked += 1
        parameters = _parameters(model, model_admin, user)
        for name in parameters:
            for value in BAD_VALUES:
                response = client.get(url, {name: value})
                requests += 1
                assert response.status_code in (200, 302), (url, name, value)
                if response.status_code == 302:
                    assert response["Location"].startswith(url), (url, name, value)
        everything = client.get(url, dict.fromkeys(parameters, "2026-13"))
        assert everything.status_code in (200, 302), url
    assert walked >= (20 if who == "superuser" else 3), walked
    print(f"{who}: {walked} changelists, {requests} requests with bad input")


@pytest.mark.parametrize(
    ("model", "value"),
    [
        ("invoicing.tenantinvoice", "2026-13"),
        ("billing.cloudcostline", "2026-13"),
        ("invoicing.tenantinvoice", "2026-04\x00"),
        ("billing.cloudcostline", "\x00"),
    ],
)
def test_a_bad_period_shows_the_list_unfiltered_with_the_reason(admin_client, model, value):
    build_world()
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")

    response = admin_client.get(url, {"period": value}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain, "the bad filter was applied instead of refused"
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("2026-13" in text or "NUL" in text for text in shown), shown


def test_every_registered_admin_is_guarded_ours_and_third_party_alike():
    """The guard is applied to the registry, not left to each ModelAdmin to inherit."""
    registered = {
        f"{model._meta.app_label}.{type(model_admin).__name__}": model_admin
        for model, model_admin in admin.site._registry.items()
    }
    assert {"auth.UserAdmin", "django_celery_beat.PeriodicTaskAdmin"} <= set(registered)
    assert len([label for label in registered if label.split(".")[0] in PROJECT_APPS]) >= 20
    unguarded = [
        label
        for label, model_admin in registered.items()
        if not isinstance(model_admin, FilterInputGuard)
    ]
    assert not unguarded, unguarded


def test_every_admin_action_posted_with_unreadable_ids_runs_on_nothing(client, superuser):
    """`_selected_action=%00` (or an id no key column holds) on any action of any admin: the
    changelist again with the reason, nothing done — never a 500."""
    build_world()
    client.force_login(superuser)
    walked = 0
    for model, model_admin in admin.site._registry.items():
        request = RequestFactory().get(_changelist_url(model))
        request.user = superuser
        actions = [name for name in model_admin.get_actions(request) if name != "delete_selected"]
        for action in actions:
            for bad in ("\x00", "abc", "1e30"):
                response = client.post(
                    _changelist_url(model), {"action": action, "_selected_action": [bad]}
                )
                assert response.status_code == 302, (model, action, bad, response.status_code)
                shown = [str(message) for message in get_messages(response.wsgi_request)]
                assert any("could not be read" in text for text in shown), (model, action, shown)
                walked += 1
    assert walked > 30, f"too few actions walked to mean anything: {walked}"
