"""Deployments in the operators' admin, and the attach action it adds to inventory's resource
admin."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.urls import reverse

from deployments.admin_actions import attach_resources_action
from deployments.models import Deployment
from deployments.services import subscription_create
from inventory.admin import CloudResourceAdmin
from inventory.models import CloudResource, CloudResourceEvent
from tests.deployments.factories import force_state, make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

DEPLOYMENTS = reverse("admin:deployments_deployment_changelist")


def messages_text(request) -> str:
    return " | ".join(str(message) for message in get_messages(request))


def test_the_changelist_filters_and_searches(admin_client):
    make_deployment(slug="shop")
    force_state(make_deployment(slug="blog"), "paused")
    assert admin_client.get(DEPLOYMENTS, {"state": "paused"}).context["cl"].result_count == 1
    assert admin_client.get(DEPLOYMENTS, {"q": "shop"}).context["cl"].result_count == 1


def test_the_change_page_shows_events_and_subscription(seeded, admin_client):
    deployment = make_deployment()
    subscription_create(deployment=deployment, plan_code="studio", actor="t")
    page = admin_client.get(reverse("admin:deployments_deployment_change", args=[deployment.pk]))
    assert page.status_code == 200
    assert "studio v1" in page.content.decode()


def test_change_state_asks_for_the_state_then_applies_it(admin_client):
    active, cancelled = make_deployment(), force_state(make_deployment(), "cancelled")
    selection = {"action": "change_state", "_selected_action": [active.pk, cancelled.pk]}
    form = admin_client.post(DEPLOYMENTS, selection)
    assert form.status_code == 200 and "New state" in form.content.decode()

    done = admin_client.post(
        DEPLOYMENTS,
        {**selection, "apply": "1", "to_state": "suspended", "reason": "unpaid"},
        follow=True,
    )
    active.refresh_from_db()
    cancelled.refresh_from_db()
    assert (active.state, cancelled.state) == ("suspended", "cancelled")
    messages = [str(m) for m in done.context["messages"]]
    assert any("Moved 1 deployment" in m for m in messages)
    assert any("allowed from cancelled: archived" in m for m in messages)
    event = active.events.last()
    assert (event.actor, event.reason) == ("admin:admin", "unpaid")


def test_billing_actions_are_suspended_and_resumed(admin_client):
    deployment = make_deployment()
    for action, expected in (("suspend_billing_actions", True), ("resume_billing_actions", False)):
        admin_client.post(DEPLOYMENTS, {"action": action, "_selected_action": [deployment.pk]})
        assert Deployment.objects.get(pk=deployment.pk).billing_action_suspended is expected


def test_adding_a_deployment_goes_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:deployments_deployment_add"),
        {
            "tenant_id": "tenant-c",
            "slug": "api",
            "display_name": "API",
            "region": "syd1",
            "llm_mode": "plan",
            "subscription-TOTAL_FORMS": "0",
            "subscription-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    deployment = Deployment.objects.get(slug="api")
    assert deployment.state == "active"
    assert deployment.events.get().actor == "admin:admin"


def test_subscriptions_are_read_only(seeded, admin_client):
    deployment = make_deployment()
    subscription = subscription_create(
        deployment=deployment, plan_code="studio", addon_codes=["storage_50gb"], actor="t"
    )
    url = reverse("admin:deployments_subscription_change", args=[subscription.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "storage_50gb" in page.content.decode()
    assert admin_client.post(url, {}).status_code == 403


class TestAttachResourcesAction:
    @pytest.fixture
    def modeladmin(self):
        return admin.ModelAdmin(CloudResource, admin.site)

    def request(self, admin_user, data: dict):
        request = RequestFactory().post("/admin/inventory/cloudresource/", data)
        request.user = admin_user
        request.session = {}
        request._messages = FallbackStorage(request)
        return request

    def test_asks_for_a_deployment_then_attaches_in_bulk(self, admin_user, modeladmin):
        deployment = make_deployment()
        resources = [make_resource(), make_resource()]
        queryset = CloudResource.objects.filter(pk__in=[r.pk for r in resources])

        page = attach_resources_action(modeladmin, self.request(admin_user, {}), queryset)
        page.render()
        assert "Attach resources to a deployment" in page.content.decode()

        request = self.request(admin_user, {"apply": "1", "deployment": deployment.pk})
        assert attach_resources_action(modeladmin, request, queryset) is None
        assert set(queryset.values_list("deployment_id", flat=True)) == {deployment.pk}
        assert (
            CloudResourceEvent.objects.filter(type="attributed", actor="admin:admin").count() == 2
        )
        assert "Attached 2 resource(s)" in messages_text(request)

    def test_a_refusal_is_reported_not_raised(self, admin_user, modeladmin):
        first, second = make_deployment(), make_deployment()
        resource = make_resource(deployment=first)
        request = self.request(admin_user, {"apply": "1", "deployment": second.pk})
        attach_resources_action(modeladmin, request, CloudResource.objects.filter(pk=resource.pk))
        assert "belong to other deployments" in messages_text(request)
        resource.refresh_from_db()
        assert resource.deployment_id == first.pk


def test_the_resource_changelist_is_inventorys_with_the_attach_action(admin_user):
    registered = admin.site._registry[CloudResource]
    assert isinstance(registered, CloudResourceAdmin)
    assert registered.list_display == CloudResourceAdmin.list_display
    request = RequestFactory().get("/admin/inventory/cloudresource/")
    request.user = admin_user
    assert "attach_resources_action" in registered.get_actions(request)
