"""The inventory admin: operators classify projects to tenants."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.models import CloudProject, CloudResource
from tests.inventory.factories import make_project, make_resource

pytestmark = pytest.mark.django_db


def _classify(admin_client, project: CloudProject, tenant_id: str):
    url = reverse("admin:inventory_cloudproject_change", args=[project.pk])
    return admin_client.post(url, {"tenant_id": tenant_id, "purpose": "tenant"})


def test_classifying_a_project_in_the_admin_attributes_its_resources(admin_client):
    project = make_project(name="Acme Corp")
    resource = make_resource(project=project)
    response = _classify(admin_client, project, "acme")
    assert response.status_code == 302
    assert CloudResource.objects.get(pk=resource.pk).tenant_id == "acme"


@pytest.mark.parametrize("bad", ["Acme", "acme corp", "acme/ops"])
def test_a_tenant_id_not_in_its_one_spelling_is_a_form_error_and_changes_nothing(admin_client, bad):
    project = make_project(name="Acme Corp")
    resource = make_resource(project=project)
    response = _classify(admin_client, project, bad)
    assert response.status_code == 200
    assert "is not a tenant id" in response.content.decode()
    project.refresh_from_db()
    assert project.tenant_id is None
    assert CloudResource.objects.get(pk=resource.pk).tenant_id is None


def test_moving_a_resource_in_the_admin_goes_through_the_services_and_its_history(admin_client):
    """Issue 17: the billed history (and the `attributed` event) follow an operator's edit."""
    from inventory.models import CloudResourceEvent, CloudResourceHistory
    from tests.deployments.factories import make_deployment

    first, second = make_deployment(), make_deployment()
    resource = make_resource(deployment=first)
    url = reverse("admin:inventory_cloudresource_change", args=[resource.pk])

    inline = {"events-TOTAL_FORMS": 0, "events-INITIAL_FORMS": 0}  # the read-only events inline
    moved = admin_client.post(url, {"deployment": second.pk, **inline})
    detached = admin_client.post(url, {"deployment": "", **inline})

    assert (moved.status_code, detached.status_code) == (302, 302)
    history = list(
        CloudResourceHistory.objects.filter(resource=resource)
        .order_by("valid_from", "id")
        .values_list("deployment_id", "valid_to")
    )
    # attached to `first` until the edit, detached since (the move and the detach fall in the
    # same second or in two, so `second` may hold an interval in between)
    assert history[0][0] == first.pk and history[0][1] is not None
    assert history[-1] == (None, None)
    events = CloudResourceEvent.objects.filter(resource=resource, type="attributed")
    assert [e.changes["deployment"] for e in events.order_by("id")] == [
        [first.pk, second.pk],
        [second.pk, None],
    ]
    assert CloudResource.objects.get(pk=resource.pk).deployment_id is None
