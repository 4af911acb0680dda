"""The catalog in the operators' admin: drafts editable, published versions read-only, and a
publish that shows what it retires before it happens."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from catalog.models import Addon, PlanVersion, ResourcePrice
from catalog.services import resource_price_create
from tests.catalog.factories import make_addon, make_plan, make_version

pytestmark = pytest.mark.django_db

VERSIONS = reverse("admin:catalog_planversion_changelist")


def publish_url(version: PlanVersion) -> str:
    return reverse("admin:catalog_planversion_publish", args=[version.pk])


def change_url(version: PlanVersion) -> str:
    return reverse("admin:catalog_planversion_change", args=[version.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_plans_list_shows_the_active_version(admin_client):
    v1 = make_version(make_plan("studio"), publish=True)
    make_version(v1.plan)
    response = admin_client.get(reverse("admin:catalog_plan_changelist"))
    assert response.status_code == 200
    assert "v1" in response.content.decode()
    detail = admin_client.get(reverse("admin:catalog_plan_change", args=[v1.plan.pk]))
    assert detail.status_code == 200


def test_publish_page_shows_what_is_retired_then_publishes(admin_client):
    v1 = make_version(make_plan("studio"), publish=True, base_price_cents=5000)
    v2 = make_version(v1.plan, base_price_cents=5500)
    page = admin_client.get(publish_url(v2))
    assert page.status_code == 200
    text = page.content.decode()
    assert "studio v2" in text and "This retires" in text and "0 subscriptions" in text
    assert PlanVersion.objects.get(pk=v2.pk).status == "draft"

    response = admin_client.post(publish_url(v2), follow=True)
    assert "Published studio v2; retired v1." in messages_of(response)
    assert PlanVersion.objects.get(pk=v2.pk).status == "active"
    assert PlanVersion.objects.get(pk=v1.pk).status == "retired"


def test_publish_action_confirms_then_publishes(admin_client):
    drafts = [make_version(make_plan(code)) for code in ("alpha", "beta")]
    selection = {"action": "publish_selected", "_selected_action": [d.pk for d in drafts]}
    confirmation = admin_client.post(VERSIONS, selection)
    assert confirmation.status_code == 200
    assert "has no active version yet" in confirmation.content.decode()
    assert PlanVersion.objects.filter(status="active").count() == 0

    admin_client.post(VERSIONS, {**selection, "confirm": "yes"})
    assert PlanVersion.objects.filter(status="active").count() == 2


@pytest.mark.parametrize("problem", ["published", "two of one plan"])
def test_publish_action_refuses_a_bad_selection(admin_client, problem):
    plan = make_plan("studio")
    if problem == "published":
        selected = [make_version(plan, publish=True)]
    else:
        selected = [make_version(plan), make_version(plan)]
    response = admin_client.post(
        VERSIONS,
        {
            "action": "publish_selected",
            "_selected_action": [v.pk for v in selected],
            "confirm": "yes",
        },
        follow=True,
    )
    assert any("draft" in message for message in messages_of(response))
    assert PlanVersion.objects.filter(status="draft").count() == (
        0 if problem == "published" else 2
    )


def test_a_published_version_is_read_only(admin_client):
    version = make_version(publish=True)
    page = admin_client.get(change_url(version))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    refused = admin_client.post(change_url(version), {"base_price_cents": 1, "currency": "AUD"})
    assert refused.status_code == 403
    assert PlanVersion.objects.get(pk=version.pk).base_price_cents == 2000


def inline_items(*rows: dict, initial: int = 0) -> dict:
    data = {
        "items-TOTAL_FORMS": str(len(rows)),
        "items-INITIAL_FORMS": str(initial),
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"items-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_new_version_is_a_numbered_draft_with_its_items(admin_client):
    plan = make_version(make_plan("studio"), publish=True).plan
    row = {
        "resource_kind": "dns_zones",
        "included_qty": "5",
        "overage_unit": "zone",
        "overage_price_cents": "100",
    }
    response = admin_client.post(
        reverse("admin:catalog_planversion_add"),
        {"plan": plan.pk, "base_price_cents": "6000", "currency": "AUD", **inline_items(row)},
    )
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    draft = plan.versions.get(number=2)
    assert (draft.status, draft.base_price_cents, draft.created_by) == (
        "draft",
        6000,
        "admin:admin",
    )
    assert list(draft.items.values_list("resource_kind", flat=True)) == ["dns_zones"]


def test_an_item_unit_that_cannot_price_its_kind_is_refused(admin_client):
    draft = make_version()
    row = {
        "resource_kind": "dns_zones",
        "included_qty": "5",
        "overage_unit": "hour",
        "overage_price_cents": "100",
    }
    response = admin_client.post(
        change_url(draft),
        {"base_price_cents": "2000", "currency": "AUD", **inline_items(row)},
    )
    assert response.status_code == 200
    assert "cannot price dns_zones" in response.content.decode()
    assert draft.items.count() == 2


def test_addons_are_deactivated_and_reactivated(admin_client):
    addon = make_addon("storage_50gb")
    url = reverse("admin:catalog_addon_changelist")
    admin_client.post(url, {"action": "deactivate_selected", "_selected_action": [addon.pk]})
    assert Addon.objects.get(pk=addon.pk).is_active is False
    admin_client.post(url, {"action": "activate_selected", "_selected_action": [addon.pk]})
    assert Addon.objects.get(pk=addon.pk).is_active is True


def test_a_new_resource_price_supersedes_the_open_ended_one(admin_client):
    old = resource_price_create(
        resource_kind="volume_gb_month",
        price_cents=15,
        currency="AUD",
        effective_from=dt.date(2026, 1, 1),
    )
    body = {
        "resource_kind": "volume_gb_month",
        "unit": "gb_month",
        "price_cents": "18",
        "currency": "AUD",
        "effective_from": "2026-07-01",
        "effective_to": "",
    }
    add = reverse("admin:catalog_resourceprice_add")
    refused = admin_client.post(add, body)  # supersede unticked: an overlap
    assert refused.status_code == 200 and "must not overlap" in refused.content.decode()

    assert admin_client.post(add, {**body, "supersede": "on"}).status_code == 302
    old.refresh_from_db()
    assert old.effective_to == dt.date(2026, 7, 1)
    assert ResourcePrice.objects.get(effective_from=dt.date(2026, 7, 1)).price_cents == 18
