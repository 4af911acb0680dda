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
