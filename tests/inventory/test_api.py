"""GET /api/v1/inventory and /api/v1/inventory/{id}: scoping by effective tenant, filters,
bounded queries (SPEC §4)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from deployments.models import Deployment
from inventory.models import CloudResource, CloudResourceEvent
from inventory.normalize import ResourceSnapshot
from inventory.services import Placement, resources_attribute, upsert_resource
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
    with django_assert_max_num_queries(1):  # the page (keyset: no count)
        response = admin_api.get("/api/v1/inventory?page_size=100")
    assert len(response.json()["results"]) == rows and response.json()["next"] is None


# -- history of a resource moved between tenants (issue 14, item 14) ------------------------


@pytest.fixture
def moved_to_b(admin_api):
    """A droplet of tenant A (in A's project, attached to A's deployment, changed in A's time)
    that an operator then moves to tenant B's deployment; changed again in B's time."""
    a_project = make_project(name="acme-private-project", tenant_id=TENANT_A)
    a_deployment = Deployment.objects.create(
        tenant_id=TENANT_A, slug="acme-secret-shop", display_name="Acme shop"
    )
    b_deployment = Deployment.objects.create(tenant_id=TENANT_B, slug="b-web", display_name="B")
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="77", name="web-1", region="syd1"))
    resource = CloudResource.objects.get(provider_id="77")
    resources_attribute({resource.pk: Placement(a_project, TENANT_A, "listed in project x")})
    attach = admin_api.post(
        f"/api/v1/deployments/{a_deployment.pk}/resources",
        {"resource_ids": [resource.pk]},
        format="json",
    )
    assert attach.status_code == 200, attach.content
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="77", name="web-1", region="sgp1"))
    before_move = CloudResourceEvent.objects.filter(resource=resource).count()
    move = admin_api.post(
        f"/api/v1/deployments/{b_deployment.pk}/resources",
        {"resource_ids": [resource.pk], "reassign": True},
        format="json",
    )
    assert move.status_code == 200, move.content
    upsert_resource(
        ResourceSnapshot(kind="droplet", provider_id="77", name="web-1b", region="sgp1")
    )
    return {
        "resource": resource,
        "a_project": a_project,
        "a_deployment": a_deployment,
        "b_deployment": b_deployment,
        "events_before_move": before_move,
    }


def _mentions(body, value) -> bool:
    """Whether `value` appears anywhere in a JSON body (keys, strings or numbers)."""
    if isinstance(body, dict):
        return any(_mentions(k, value) or _mentions(v, value) for k, v in body.items())
    if isinstance(body, list):
        return any(_mentions(item, value) for item in body)
    return body == value or (isinstance(body, str) and str(value) in body)


def test_the_new_tenant_sees_only_the_history_since_the_resource_became_theirs(
    moved_to_b, tenant_b_api
):
    resource = moved_to_b["resource"]
    response = tenant_b_api.get(f"/api/v1/inventory/{resource.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tenant_id"] == TENANT_B
    assert [(e["type"], e["changes"]) for e in body["events"]] == [
        ("updated", {"name": ["web-1", "web-1b"]})
    ]
    assert body["project"] is None  # the droplet still sits in A's DigitalOcean project
    a_deployment = moved_to_b["a_deployment"]
    for secret in (TENANT_A, "acme-private-project", "acme-secret-shop"):
        assert secret not in response.content.decode()
    assert not any(
        _mentions(event["changes"], value)
        for event in body["events"]
        for value in (a_deployment.pk, moved_to_b["a_project"].pk)
    )


def test_the_previous_tenant_no_longer_reads_the_resource(moved_to_b, tenant_a_api):
    resource = moved_to_b["resource"]

    assert tenant_a_api.get(f"/api/v1/inventory/{resource.pk}").status_code == 404
    listed = tenant_a_api.get("/api/v1/inventory?include_deleted=true").json()["results"]
    assert resource.pk not in [row["id"] for row in listed]


def test_the_admin_still_sees_the_whole_history(moved_to_b, admin_api):
    resource = moved_to_b["resource"]
    body = admin_api.get(f"/api/v1/inventory/{resource.pk}").json()

    assert len(body["events"]) == moved_to_b["events_before_move"] + 2  # the move, the rename
    assert [e["type"] for e in body["events"]] == [
        "discovered",
        "attributed",
        "attributed",
        "updated",
        "attributed",
        "updated",
    ]
    assert body["events"][4]["changes"] == {
        "deployment": [moved_to_b["a_deployment"].pk, moved_to_b["b_deployment"].pk]
    }
    assert body["project"]["name"] == "acme-private-project"


def test_the_list_hides_the_previous_tenants_project_and_its_filter(moved_to_b, tenant_b_api):
    rows = tenant_b_api.get("/api/v1/inventory").json()["results"]
    (row,) = [row for row in rows if row["id"] == moved_to_b["resource"].pk]
    assert row["project"] is None
    assert TENANT_A not in str(rows)

    a_project = moved_to_b["a_project"].pk
    assert names(tenant_b_api.get(f"/api/v1/inventory?project={a_project}")) == set()


def test_a_tenant_keeps_its_history_when_a_resource_moves_between_its_own_deployments(
    admin_api, tenant_a_api
):
    project = make_project(name="acme", tenant_id=TENANT_A)
    first, second = (
        Deployment.objects.create(tenant_id=TENANT_A, slug=slug, display_name=slug)
        for slug in ("one", "two")
    )
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="88", name="db", region="syd1"))
    resource = CloudResource.objects.get(provider_id="88")
    resources_attribute({resource.pk: Placement(project, TENANT_A, "listed in project acme")})
    for deployment in (first, second):
        admin_api.post(
            f"/api/v1/deployments/{deployment.pk}/resources",
            {"resource_ids": [resource.pk], "reassign": True},
            format="json",
        )

    body = tenant_a_api.get(f"/api/v1/inventory/{resource.pk}").json()
    assert [e["type"] for e in body["events"]] == [
        "discovered",
        "attributed",
        "attributed",
        "attributed",
    ]
    assert body["project"] == {"id": project.pk, "name": "acme"}


def test_a_project_attribution_naming_another_tenant_is_hidden_while_attached(tenant_b_api):
    """Attached to B's deployment (B owns it throughout), the sync re-attributes the droplet
    between two of A's projects: the event names A's tenant and projects, so B does not see it."""
    b_deployment = Deployment.objects.create(tenant_id=TENANT_B, slug="bw", display_name="B")
    upsert_resource(ResourceSnapshot(kind="droplet", provider_id="99", name="w", region="syd1"))
    resource = CloudResource.objects.get(provider_id="99")
    CloudResource.objects.filter(pk=resource.pk).update(deployment=b_deployment)
    for name in ("acme-one", "acme-two"):
        project = make_project(name=name, tenant_id=TENANT_A)
        resources_attribute(
            {resource.pk: Placement(project, TENANT_A, f"listed in project {name}")}
        )

    response = tenant_b_api.get(f"/api/v1/inventory/{resource.pk}")
    assert [e["type"] for e in response.json()["events"]] == ["discovered"]
    assert "acme" not in response.content.decode()


def test_detail_query_count_does_not_grow_with_events(
    moved_to_b, tenant_b_api, django_assert_max_num_queries
):
    resource = moved_to_b["resource"]
    for region in ("a", "b", "c", "d", "e", "f"):
        upsert_resource(
            ResourceSnapshot(kind="droplet", provider_id="77", name="web-1b", region=region)
        )
    with django_assert_max_num_queries(5):
        response = tenant_b_api.get(f"/api/v1/inventory/{resource.pk}")
    assert len(response.json()["events"]) == 7


# -- keyset pages (issue 22) ----------------------------------------------------------------


def walk(api, url: str) -> tuple[list[str], int]:
    """Every page from `url` by its `next` links: the names in order, and the pages read."""
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "results"}
        seen += [row["name"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    return seen, pages


def test_pages_follow_kind_name_id_and_every_row_comes_once(admin_api):
    names_in_order = []
    for kind in ("volume", "droplet"):
        for n in (3, 1, 2, 1):  # a repeated name: the id breaks the tie
            make_resource(kind=kind, name=f"{kind}-{n}")
    expected = list(
        CloudResource.objects.order_by("kind", "name", "id").values_list("name", flat=True)
    )

    names_in_order, pages = walk(admin_api, "/api/v1/inventory?page_size=3")

    assert names_in_order == expected and pages == 3


def test_the_next_link_keeps_the_filters(admin_api):
    for n in range(5):
        make_resource(kind="droplet", name=f"web-{n}")
        make_resource(kind="volume", name=f"vol-{n}")

    names_in_order, pages = walk(admin_api, "/api/v1/inventory?kind=droplet&page_size=2")

    assert names_in_order == [f"web-{n}" for n in range(5)] and pages == 3


def test_a_tenant_pages_through_its_own_rows_only(tenant_a_api):
    for n in range(4):
        make_resource(tenant_id=TENANT_A, name=f"a-{n}")
        make_resource(tenant_id=TENANT_B, name=f"a-{n}b")  # sorts between A's rows

    names_in_order, _ = walk(tenant_a_api, "/api/v1/inventory?page_size=1")

    assert names_in_order == [f"a-{n}" for n in range(4)]


def test_a_late_page_reads_as_few_queries_as_the_first(admin_api, django_assert_max_num_queries):
    for n in range(30):
        make_resource(name=f"r-{n:02d}")
    url = "/api/v1/inventory?page_size=2"
    for _ in range(10):
        url = admin_api.get(url).json()["next"]
    with django_assert_max_num_queries(1):
        assert len(admin_api.get(url).json()["results"]) == 2


def cursor_of(value) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        "bm90IGpzb24",  # "not json"
        cursor_of({"kind": "droplet"}),
        cursor_of(["droplet", "web"]),  # too short
        cursor_of(["droplet", "web", "7"]),  # id not an integer
        cursor_of(["droplet", "web", 2**70]),  # beyond bigint
        cursor_of(["droplet", "web", True]),
        cursor_of(["droplet", 5, 1]),
        cursor_of(["drop\u0000let", "web", 1]),
        cursor_of(["\ud800", "web", 1]),
        "A" * 3000,
    ],
)
def test_a_cursor_that_is_not_ours_is_a_400_naming_it(admin_api, cursor):
    make_resource(name="web")

    response = admin_api.get(f"/api/v1/inventory?cursor={cursor}")

    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {"cursor"}
