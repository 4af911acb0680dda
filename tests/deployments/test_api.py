"""The deployments API: tenant isolation, transitions, subscribing and resource attachment."""

from __future__ import annotations

import datetime as dt

import pytest

from arcadia_cloud.clock import utc_today
from deployments.models import Deployment
from deployments.services import subscription_create
from inventory.models import CloudResourceEvent
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import force_state, make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

LIST = "/api/v1/deployments"


def url(deployment: Deployment, suffix: str = "") -> str:
    return f"{LIST}/{deployment.pk}{suffix}"


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


class TestListAndCreate:
    def test_tenants_list_only_their_own_admins_see_all(self, tenant_a_api, admin_api):
        mine = make_deployment(tenant_id=TENANT_A)
        make_deployment(tenant_id=TENANT_B)
        assert [d["id"] for d in tenant_a_api.get(LIST).json()["results"]] == [mine.pk]
        assert admin_api.get(LIST).json()["count"] == 2
        assert admin_api.get(LIST, {"tenant_id": TENANT_B}).json()["count"] == 1
        assert tenant_a_api.get(LIST, {"tenant_id": TENANT_B}).json()["count"] == 0

    def test_filter_by_state(self, admin_api):
        force_state(make_deployment(), "paused")
        make_deployment()
        results = admin_api.get(LIST, {"state": "paused"}).json()["results"]
        assert [d["state"] for d in results] == ["paused"]

    def test_list_query_count_is_bounded(self, seeded, admin_api, django_assert_max_num_queries):
        for _ in range(15):
            subscription_create(
                deployment=make_deployment(),
                plan_code="studio",
                addon_codes=["storage_50gb"],
                actor="t",
            )
        with django_assert_max_num_queries(3):
            body = admin_api.get(LIST).json()
        assert body["count"] == 15
        subscription = body["results"][0]["subscription"]
        assert (subscription["plan_code"], subscription["plan_version"]) == ("studio", 1)
        assert subscription["addons"][0]["price_cents"] == 750

    def test_create_forces_the_callers_tenant(self, tenant_a_api):
        response = tenant_a_api.post(
            LIST,
            {"slug": "shop", "display_name": "Shop", "tenant_id": TENANT_B},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["tenant_id"], body["state"], body["llm_mode"]) == (
            TENANT_A,
            "active",
            "passthrough",
        )
        assert [(e["from_state"], e["to_state"]) for e in body["events"]] == [("", "active")]

    def test_admins_create_for_any_tenant(self, admin_api):
        response = admin_api.post(
            LIST, {"slug": "shop", "display_name": "Shop", "tenant_id": TENANT_B}, format="json"
        )
        assert response.json()["tenant_id"] == TENANT_B

    def test_a_duplicate_slug_is_400_naming_slug(self, tenant_a_api):
        make_deployment(slug="shop")
        response = tenant_a_api.post(LIST, {"slug": "shop", "display_name": "X"}, format="json")
        assert list(error(response, 400)["fields"]) == ["slug"]


class TestDetail:
    def test_shows_subscription_addons_and_events(self, seeded, tenant_a_api):
        deployment = make_deployment()
        subscription_create(
            deployment=deployment, plan_code="studio", addon_codes=["storage_50gb"], actor="t"
        )
        body = tenant_a_api.get(url(deployment)).json()
        assert body["subscription"]["addons"][0]["qty"] == "50"
        assert body["events"][0]["to_state"] == "active"
        assert [e["type"] for e in body["subscription_events"]] == ["created"]

    def test_detail_query_count_is_bounded(
        self, seeded, tenant_a_api, django_assert_max_num_queries
    ):
        deployment = make_deployment()
        subscription_create(deployment=deployment, plan_code="studio", actor="t")
        # + the subscription's segments and scheduled changes (issue 20): one query each.
        with django_assert_max_num_queries(6):
            assert tenant_a_api.get(url(deployment)).status_code == 200


class TestIsolation:
    """Tenant B cannot read, transition or subscribe tenant A's deployment: it does not exist."""

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("get", "", None),
            ("post", "/transition", {"to_state": "paused"}),
            ("post", "/subscribe", {"plan_code": "studio"}),
        ],
    )
    def test_another_tenants_deployment_is_404(self, seeded, tenant_b_api, method, suffix, body):
        deployment = make_deployment(tenant_id=TENANT_A)
        response = getattr(tenant_b_api, method)(url(deployment, suffix), body, format="json")
        assert error(response, 404)["code"] == "not_found"
        deployment.refresh_from_db()
        assert deployment.state == "active"
        assert not hasattr(deployment, "subscription")


class TestTransition:
    def test_a_tenant_pauses_and_resumes(self, tenant_a_api):
        deployment = make_deployment()
        paused = tenant_a_api.post(
            url(deployment, "/transition"), {"to_state": "paused"}, format="json"
        )
        assert paused.status_code == 200 and paused.json()["state"] == "paused"
        resumed = tenant_a_api.post(
            url(deployment, "/transition"), {"to_state": "active", "reason": "back"}, format="json"
        )
        assert resumed.json()["events"][-1] == {
            **resumed.json()["events"][-1],
            "from_state": "paused",
            "to_state": "active",
            "reason": "back",
        }

    def test_a_tenant_cannot_unsuspend_itself(self, tenant_a_api):
        deployment = force_state(make_deployment(), "suspended")
        response = tenant_a_api.post(
            url(deployment, "/transition"), {"to_state": "active"}, format="json"
        )
        assert error(response, 403)["code"] == "forbidden"
        deployment.refresh_from_db()
        assert deployment.state == "suspended"

    def test_operators_can(self, admin_api):
        deployment = force_state(make_deployment(), "suspended")
        response = admin_api.post(
            url(deployment, "/transition"), {"to_state": "active"}, format="json"
        )
        assert response.json()["state"] == "active"

    def test_an_invalid_transition_is_422_listing_the_allowed_targets(self, admin_api):
        deployment = force_state(make_deployment(), "cancelled")
        response = admin_api.post(
            url(deployment, "/transition"), {"to_state": "active"}, format="json"
        )
        body = error(response, 422)
        assert body["code"] == "invalid_state_change"
        assert body["allowed"] == ["archived"]
        assert "archived" in body["message"]

    def test_an_unknown_state_names_to_state(self, admin_api):
        response = admin_api.post(
            url(make_deployment(), "/transition"), {"to_state": "gone"}, format="json"
        )
        assert list(error(response, 400)["fields"]) == ["to_state"]


class TestSubscribe:
    def test_subscribes_with_snapshotted_addons(self, seeded, admin_api):
        deployment = make_deployment()
        response = admin_api.post(
            url(deployment, "/subscribe"),
            {"plan_code": "studio", "addons": ["storage_50gb"], "starts_on": "2026-05-20"},
            format="json",
        )
        assert response.status_code == 201, response.content
        subscription = response.json()["subscription"]
        assert subscription == {
            **subscription,
            "plan_code": "studio",
            "plan_version": 1,
            "status": "active",
            "started_on": "2026-05-20",
            "current_period_start": "2026-05-01",
            "current_period_end": "2026-05-31",
            "cancelled_on": None,
        }
        assert subscription["addons"][0]["price_cents"] == 750

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"plan_code": "enterprise"}, "plan_code"),
            ({"plan_code": "starter", "addons": ["llm_1m_tokens"]}, "addons"),
            ({"plan_code": "studio", "addons": "storage_50gb"}, "addons"),
            ({"plan_code": "studio", "starts_on": "20 May"}, "starts_on"),
        ],
    )
    def test_bad_input_names_the_field(self, seeded, tenant_a_api, body, field):
        response = tenant_a_api.post(url(make_deployment(), "/subscribe"), body, format="json")
        assert list(error(response, 400)["fields"]) == [field]

    def test_tenants_start_today_or_later(self, seeded, tenant_a_api):
        deployment = make_deployment()
        yesterday = (utc_today() - dt.timedelta(days=1)).isoformat()
        backdated = tenant_a_api.post(
            url(deployment, "/subscribe"),
            {"plan_code": "studio", "starts_on": yesterday},
            format="json",
        )
        assert list(error(backdated, 400)["fields"]) == ["starts_on"]
        today = tenant_a_api.post(
            url(deployment, "/subscribe"), {"plan_code": "studio"}, format="json"
        )
        assert today.json()["subscription"]["started_on"] == utc_today().isoformat()

    def test_subscribing_twice_is_409(self, seeded, tenant_a_api):
        deployment = make_deployment()
        first = tenant_a_api.post(
            url(deployment, "/subscribe"), {"plan_code": "studio"}, format="json"
        )
        assert first.status_code == 201
        again = tenant_a_api.post(
            url(deployment, "/subscribe"), {"plan_code": "pro"}, format="json"
        )
        assert error(again, 409)["code"] == "already_subscribed"


class TestResources:
    def test_admin_attaches_resources(self, admin_api):
        deployment = make_deployment()
        resources = [make_resource(), make_resource(kind="volume")]
        response = admin_api.post(
            url(deployment, "/resources"),
            {"resource_ids": [r.pk for r in resources]},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert sorted(response.json()["attached"]) == sorted(r.pk for r in resources)
        assert CloudResourceEvent.objects.filter(type="attributed").count() == 2

    def test_a_resource_of_another_deployment_is_409_unless_reassigned(self, admin_api):
        first, second = make_deployment(), make_deployment()
        resource = make_resource(deployment=first)
        body = {"resource_ids": [resource.pk]}
        assert error(admin_api.post(url(second, "/resources"), body, format="json"), 409)
        moved = admin_api.post(url(second, "/resources"), {**body, "reassign": True}, format="json")
        assert moved.json()["reassigned"] == [resource.pk]

    def test_tenants_cannot_attach(self, tenant_a_api):
        resource = make_resource()
        response = tenant_a_api.post(
            url(make_deployment(), "/resources"), {"resource_ids": [resource.pk]}, format="json"
        )
        assert error(response, 403)["code"] == "forbidden"
        resource.refresh_from_db()
        assert resource.deployment_id is None

    def test_bad_ids_name_the_field(self, admin_api):
        response = admin_api.post(
            url(make_deployment(), "/resources"), {"resource_ids": ["x"]}, format="json"
        )
        assert "resource_ids[0]" in error(response, 400)["fields"]


ENDPOINTS = [
    ("get", "", None),
    ("post", "", {"slug": "x", "display_name": "X"}),
    ("get", "/{id}", None),
    ("post", "/{id}/transition", {"to_state": "paused"}),
    ("post", "/{id}/subscribe", {"plan_code": "studio"}),
    ("post", "/{id}/resources", {"resource_ids": [1]}),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_is_401_and_gateway_only_is_403(anon_api, gateway_api, method, path, body):
    target = LIST + path.format(id=make_deployment().pk)
    assert getattr(anon_api, method)(target, body, format="json").status_code == 401
    assert getattr(gateway_api, method)(target, body, format="json").status_code == 403
