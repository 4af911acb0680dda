"""GET /api/v1/inventory and /api/v1/inventory/{id}: scoping by effective tenant, filters,
bounded queries (SPEC §4)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from deployments.models import Deployment
from inventory.normalize import ResourceSnapshot
from inventory.services import upsert_resource
from tests.conftest import TENANT_A, TENANT_B
from tests.inventory.factories import make_project, make_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate():
    project = make_project(name="Acme Corp", tenant_id=TENANT_A)
    a_own = make_resource(name="a-web", tenant_id=TENANT_A, project=project)
    b_own = make_resource(name="b-web", tenant_id=TENANT_B)
    # Owned by B's project but attached to A's deployment: the deployment wins.
    a_deployment = Deployment.objects.create(tenant_id=TENANT_A, slug="shop", display_name="Shop")
    via_deployment = make_resource(name="moved", tenant_id=TENANT_B, deployment=a_deployment)
    a_gone = make_resource(name="a-old", tenant_id=TENANT_A, deleted_at=timezone.now())
    unowned = make_resource(name="orphan", kind="firewall")
    return {
        "a_own": a_own,
        "b_own": b_own,
        "via_deployment": via_deployment,
        "a_gone": a_gone,
        "unowned": unowned,
        "deployment": a_deployment,
        "project": project,
    }


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


def test_tenant_sees_only_rows_whose_effective_tenant_is_theirs(estate, tenant_a_api, tenant_b_api):
    assert names(tenant_a_api.get("/api/v1/inventory")) == {"a-web", "moved"}
    assert names(tenant_b_api.get("/api/v1/inventory")) == {"b-web"}


def test_effective_tenant_is_reported(estate, tenant_a_api):
    rows = tenant_a_api.get("/api/v1/inventory").json()["results"]
    moved = next(r for r in rows if r["name"] == "moved")
    assert moved["tenant_id"] == TENANT_A
    assert moved["deployment_id"] == estate["deployment"].pk


def test_admin_sees_everything_and_filters_by_tenant(estate, admin_api):
    assert names(admin_api.get("/api/v1/inventory")) == {"a-web", "b-web", "moved", "orphan"}
    assert names(admin_api.get(f"/api/v1/inventory?tenant_id={TENANT_B}")) == {"b-web"}


def test_tenant_id_filter_cannot_widen_a_tenants_view(estate, tenant_a_api):
    assert names(tenant_a_api.get(f"/api/v1/inventory?tenant_id={TENANT_B}")) == {"a-web", "moved"}


def test_filters_kind_project_deployment_and_deleted(estate, admin_api, tenant_a_api):
    assert names(admin_api.get("/api/v1/inventory?kind=firewall")) == {"orphan"}
    assert names(admin_api.get(f"/api/v1/inventory?project={estate['project'].pk}")) == {"a-web"}
    assert names(admin_api.get(f"/api/v1/inventory?deployment={estate['deployment'].pk}")) == {
        "moved"
    }
    assert names(tenant_a_api.get("/api/v1/inventory?include_deleted=true")) == {
        "a-web",
        "moved",
        "a-old",
    }


def test_bad_filter_value_is_400_naming_the_field(estate, admin_api):
    response = admin_api.get("/api/v1/inventory?project=abc")
    assert response.status_code == 400
    assert "project" in response.json()["error"]["fields"]


def test_detail_includes_events(admin_api):
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="7", name="web-7", region="syd1"))
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="7", name="web-7", region="sgp1"))
    resource_id = admin_api.get("/api/v1/inventory").json()["results"][0]["id"]
    body = admin_api.get(f"/api/v1/inventory/{resource_id}").json()
    assert [e["type"] for e in body["events"]] == ["discovered", "updated"]
    assert body["events"][1]["changes"] == {"region": ["syd1", "sgp1"]}


def test_other_tenants_resource_is_404_not_403(estate, tenant_b_api, tenant_a_api):
    response = tenant_b_api.get(f"/api/v1/inventory/{estate['a_own'].pk}")
    assert response.status_code == 404
    assert tenant_b_api.get(f"/api/v1/inventory/{estate['via_deployment'].pk}").status_code == 404
    assert tenant_a_api.get(f"/api/v1/inventory/{estate['via_deployment'].pk}").status_code == 200


def test_anonymous_is_401_and_gateway_is_403(estate, anon_api, gateway_api):
    assert anon_api.get("/api/v1/inventory").status_code == 401
    assert anon_api.get(f"/api/v1/inventory/{estate['a_own'].pk}").status_code == 401
    assert gateway_api.get("/api/v1/inventory").status_code == 403


@pytest.mark.parametrize("rows", [5, 60])
def test_list_query_count_does_not_grow_with_rows(admin_api, django_assert_max_num_queries, rows):
    project = make_project(tenant_id=TENANT_A)
    deployment = Deployment.objects.create(tenant_id=TENANT_A, slug=f"d{rows}", display_name="D")
    for _ in range(rows):
        make_resource(tenant_id=TENANT_A, project=project, deployment=deployment)
    with django_assert_max_num_queries(3):
        response = admin_api.get("/api/v1/inventory?page_size=100")
    assert response.json()["count"] == rows
