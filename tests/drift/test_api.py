"""GET /api/v1/drift, POST /api/v1/drift/{id}/accept, /api/v1/inventory/{id}/provisioned."""

from __future__ import annotations

import pytest

from drift.models import CloudDrift, CloudProvisioned
from drift.services import drift_detect_all
from tests.drift.factories import make_droplet, make_provisioned, set_live

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/drift"


def accept_url(drift_id: int) -> str:
    return f"/api/v1/drift/{drift_id}/accept"


def provisioned_url(resource_id: int) -> str:
    return f"/api/v1/inventory/{resource_id}/provisioned"


@pytest.fixture
def drifting():
    """One resource with an open size_slug drift and one whose region drift went stale."""
    wrong_size = make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"})
    fixed_region = make_provisioned(spec={"region": "sgp1"})
    drift_detect_all()
    set_live(fixed_region.resource, region="sgp1")
    drift_detect_all()
    return wrong_size, fixed_region


def test_the_inbox_lists_open_drift_with_its_resource(admin_api, drifting):
    wrong_size, _ = drifting
    response = admin_api.get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["field"] == "size_slug"
    assert (item["expected"], item["actual"], item["status"]) == (
        "s-2vcpu-4gb",
        "s-1vcpu-1gb",
        "open",
    )
    assert item["resource"]["id"] == wrong_size.resource_id
    assert item["resource"]["kind"] == "droplet"
    assert item["spec_version"] == 1
    assert item["resolved_at"] is None


def test_history_by_status(admin_api, drifting):
    stale = admin_api.get(LIST_URL, {"status": "stale"}).json()
    assert [item["field"] for item in stale["results"]] == ["region"]
    assert stale["results"][0]["resolved_by"] == "system"
    assert admin_api.get(LIST_URL, {"status": "all"}).json()["count"] == 2
    assert admin_api.get(LIST_URL, {"status": "accepted"}).json()["count"] == 0


def test_filters_by_resource_and_field(admin_api, drifting):
    _, fixed_region = drifting
    by_resource = admin_api.get(LIST_URL, {"status": "all", "resource": fixed_region.resource_id})
    assert [item["field"] for item in by_resource.json()["results"]] == ["region"]
    by_field = admin_api.get(LIST_URL, {"status": "all", "field": "size_slug"})
    assert [item["field"] for item in by_field.json()["results"]] == ["size_slug"]


def test_an_unknown_status_is_a_400_naming_status(admin_api):
    response = admin_api.get(LIST_URL, {"status": "closed"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


@pytest.mark.parametrize("drifts", [3, 30])
def test_the_list_query_count_is_bounded(admin_api, drifts, django_assert_max_num_queries):
    for _ in range(drifts):
        make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all()
    with django_assert_max_num_queries(2):  # count + one joined page
        response = admin_api.get(LIST_URL)
    assert response.json()["count"] == drifts


def test_accept_adopts_the_live_value_and_returns_the_new_spec_version(admin_api, drifting):
    wrong_size, _ = drifting
    drift = CloudDrift.objects.get(status="open")
    response = admin_api.post(accept_url(drift.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["spec_version"]) == (drift.pk, "accepted", 2)
    assert body["resolved_by"] == "api:ops-1@platform-admin"
    wrong_size.refresh_from_db()
    assert wrong_size.spec["size_slug"] == "s-1vcpu-1gb"


def test_a_second_accept_is_a_409(admin_api, drifting):
    drift = CloudDrift.objects.get(status="open")
    assert admin_api.post(accept_url(drift.pk)).status_code == 200
    response = admin_api.post(accept_url(drift.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "already accepted" in response.json()["error"]["message"]
    assert CloudProvisioned.objects.get(resource=drift.resource).spec_version == 2


def test_accepting_a_stale_drift_is_a_409(admin_api, drifting):
    stale = CloudDrift.objects.get(status="stale")
    assert admin_api.post(accept_url(stale.pk)).status_code == 409


def test_accepting_an_unknown_drift_is_a_404(admin_api):
    response = admin_api.post(accept_url(999_999))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_recording_a_spec(admin_api):
    resource = make_droplet()
    response = admin_api.post(
        provisioned_url(resource.pk), {"spec": {"size_slug": "s-2vcpu-4gb"}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["resource_id"] == resource.pk
    assert (body["spec"], body["spec_version"]) == ({"size_slug": "s-2vcpu-4gb"}, 1)
    assert body["recorded_by"] == "api:ops-1@platform-admin"

    changed = admin_api.post(
        provisioned_url(resource.pk), {"spec": {"size_slug": "s-4vcpu-8gb"}}, format="json"
    )
    assert changed.json()["spec_version"] == 2
    assert admin_api.get(provisioned_url(resource.pk)).json()["spec"] == {
        "size_slug": "s-4vcpu-8gb"
    }


@pytest.mark.parametrize("spec", [["size_slug"], "s-1vcpu", {}, None, {"exists": "no"}])
def test_an_invalid_spec_is_a_400_naming_spec(admin_api, spec):
    resource = make_droplet()
    response = admin_api.post(provisioned_url(resource.pk), {"spec": spec}, format="json")
    assert response.status_code == 400
    assert "spec" in response.json()["error"]["fields"]
    assert not CloudProvisioned.objects.exists()


def test_a_missing_spec_is_a_400_naming_spec(admin_api):
    response = admin_api.post(provisioned_url(make_droplet().pk), {}, format="json")
    assert response.status_code == 400
    assert "spec" in response.json()["error"]["fields"]


def test_an_unknown_resource_is_a_404(admin_api):
    response = admin_api.post(provisioned_url(999_999), {"spec": {"a": 1}}, format="json")
    assert response.status_code == 404
    assert admin_api.get(provisioned_url(999_999)).status_code == 404


def test_a_resource_without_a_spec_is_a_404(admin_api):
    assert admin_api.get(provisioned_url(make_droplet().pk)).status_code == 404


def _every_endpoint(resource_id: int, drift_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", LIST_URL, None),
        ("post", accept_url(drift_id), None),
        ("get", provisioned_url(resource_id), None),
        ("post", provisioned_url(resource_id), {"spec": {"region": "syd1"}}),
    ]


def test_tenants_and_the_gateway_are_refused_with_403(tenant_a_api, gateway_api, drifting):
    drift = CloudDrift.objects.get(status="open")
    for client in (tenant_a_api, gateway_api):
        for method, url, body in _every_endpoint(drift.resource_id, drift.pk):
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, (method, url)
            assert response.json()["error"]["code"] == "forbidden"
    assert CloudDrift.objects.get(pk=drift.pk).status == "open"


def test_anonymous_callers_get_401(anon_api, drifting):
    drift = CloudDrift.objects.get(status="open")
    for method, url, body in _every_endpoint(drift.resource_id, drift.pk):
        response = getattr(anon_api, method)(url, body, format="json")
        assert response.status_code == 401, (method, url)
