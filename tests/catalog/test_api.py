"""The catalog API: the published catalog for every caller, changes for platform_admin."""

from __future__ import annotations

import pytest

from catalog.models import PlanVersion
from catalog.services import addon_deactivate
from tests.catalog.factories import make_addon, make_plan, make_version

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/catalog/plans"
ADDONS = "/api/v1/catalog/addons"


def plan_url(code: str) -> str:
    return f"{PLANS}/{code}"


def version_url(version: PlanVersion, suffix: str = "") -> str:
    return f"/api/v1/catalog/versions/{version.pk}{suffix}"


def error_fields(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]["fields"]


NEW_VERSION = {
    "base_price_cents": 5500,
    "currency": "AUD",
    "items": [
        {"resource_kind": "droplet_hours", "included_qty": "1488", "overage_price_cents": 1},
        {
            "resource_kind": "llm_tokens",
            "included_qty": "2000000",
            "overage_unit": "1k_tokens",
            "overage_price_cents": 1,
            "hard_cap_qty": "10000000.5",
        },
    ],
}


class TestReadingTheCatalog:
    def test_plans_list_each_plan_with_its_active_version_and_items(self, seeded, tenant_a_api):
        response = tenant_a_api.get(PLANS)
        assert response.status_code == 200
        plans = {plan["code"]: plan for plan in response.json()["results"]}
        assert set(plans) == {"starter", "studio", "pro"}
        studio = plans["studio"]["active_version"]
        assert (studio["number"], studio["status"], studio["base_price_cents"]) == (
            1,
            "active",
            5000,
        )
        llm = next(i for i in studio["items"] if i["resource_kind"] == "llm_tokens")
        assert llm == {
            "resource_kind": "llm_tokens",
            "included_qty": "1000000",
            "overage_unit": "1k_tokens",
            "overage_price_cents": 1,
            "hard_cap_qty": None,
            "allowance_sizes": [],
            "allowance_max_memory_mb": None,
        }

    def test_plans_list_query_count_does_not_grow(
        self, tenant_a_api, django_assert_max_num_queries
    ):
        for n in range(12):
            make_version(make_plan(f"plan-{n:02}"), publish=True)
        with django_assert_max_num_queries(4):
            response = tenant_a_api.get(PLANS)
        assert response.json()["count"] == 12

    def test_drafts_are_invisible_to_tenants(self, tenant_a_api, admin_api):
        v1 = make_version(make_plan("studio"), publish=True)
        draft = make_version(v1.plan, base_price_cents=9999)
        tenant_versions = tenant_a_api.get(plan_url("studio")).json()["versions"]
        admin_versions = admin_api.get(plan_url("studio")).json()["versions"]
        assert [v["number"] for v in tenant_versions] == [1]
        assert [(v["number"], v["status"]) for v in admin_versions] == [
            (2, "draft"),
            (1, "active"),
        ]
        assert tenant_a_api.get(version_url(draft)).status_code == 404
        assert admin_api.get(version_url(draft)).status_code == 200

    def test_a_plan_with_only_a_draft_has_no_active_version(self, tenant_a_api):
        make_version(make_plan("soon"))
        plan = tenant_a_api.get(PLANS).json()["results"][0]
        assert plan == {"code": "soon", "name": "A plan", "description": "", "active_version": None}

    def test_unknown_plan_is_404(self, tenant_a_api):
        assert tenant_a_api.get(plan_url("nope")).status_code == 404

    def test_addons_hide_inactive_ones_except_from_admins_who_ask(self, tenant_a_api, admin_api):
        make_addon("live")
        addon_deactivate(addon=make_addon("gone"))

        def codes(client, query=""):
            return [a["code"] for a in client.get(ADDONS + query).json()["results"]]

        assert codes(tenant_a_api) == ["live"]
        assert codes(tenant_a_api, "?include_inactive=1") == ["live"]
        assert codes(admin_api) == ["live"]
        assert codes(admin_api, "?include_inactive=1") == ["gone", "live"]

    def test_addon_quantities_are_decimal_strings(self, seeded, tenant_a_api):
        addons = {a["code"]: a for a in tenant_a_api.get(ADDONS).json()["results"]}
        assert addons["llm_1m_tokens"] == {
            "code": "llm_1m_tokens",
            "name": "LLM +1M tokens",
            "resource_kind": "llm_tokens",
            "qty": "1000000",
            "price_cents": 1000,
            "currency": "AUD",
            "is_active": True,
        }


class TestChangingTheCatalog:
    def test_admin_creates_a_plan_then_a_draft_then_publishes(self, admin_api, tenant_a_api):
        created = admin_api.post(PLANS, {"code": "team", "name": "Team"}, format="json")
        assert created.status_code == 201
        assert created.json()["active_version"] is None

        draft = admin_api.post(plan_url("team") + "/versions", NEW_VERSION, format="json")
        assert draft.status_code == 201, draft.content
        body = draft.json()
        assert (body["number"], body["status"], body["published_at"]) == (1, "draft", None)
        assert body["items"][0]["overage_unit"] == "hour"  # the registry default
        assert body["items"][1]["hard_cap_qty"] == "10000000.5"
        assert tenant_a_api.get(plan_url("team")).json()["versions"] == []

        published = admin_api.post(f"/api/v1/catalog/versions/{body['id']}/publish")
        assert published.status_code == 200
        assert published.json()["status"] == "active"
        assert [v["number"] for v in tenant_a_api.get(plan_url("team")).json()["versions"]] == [1]

    def test_publishing_retires_the_prior_version(self, admin_api):
        v1 = make_version(make_plan("studio"), publish=True)
        v2 = make_version(v1.plan)
        assert admin_api.post(version_url(v2, "/publish")).status_code == 200
        v1.refresh_from_db()
        assert v1.status == "retired" and v1.retired_at is not None

    def test_publishing_a_published_version_is_422(self, admin_api):
        version = make_version(publish=True)
        response = admin_api.post(version_url(version, "/publish"))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_state_change"

    def test_published_items_are_immutable_through_the_api(self, admin_api):
        version = make_version(publish=True)
        response = admin_api.put(version_url(version, "/items"), {"items": []}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "version_immutable"
        assert version.items.count() == 2

    def test_draft_items_can_be_replaced(self, admin_api):
        draft = make_version()
        response = admin_api.put(
            version_url(draft, "/items"), {"items": NEW_VERSION["items"]}, format="json"
        )
        assert response.status_code == 200
        assert [i["resource_kind"] for i in response.json()["items"]] == [
            "droplet_hours",
            "llm_tokens",
        ]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"resource_kind": "gpu_hours"}, "items[0].resource_kind"),
            ({"overage_unit": "gb"}, "items[0].overage_unit"),
            ({"included_qty": "-1"}, "items[0].included_qty"),
            ({"included_qty": "lots"}, "items[0].included_qty"),
            ({"overage_price_cents": 1.5}, "items[0].overage_price_cents"),
        ],
    )
    def test_validation_errors_name_the_item_field(self, admin_api, change, field):
        make_plan("studio")
        body = {**NEW_VERSION, "items": [{**NEW_VERSION["items"][0], **change}]}
        response = admin_api.post(plan_url("studio") + "/versions", body, format="json")
        assert field in error_fields(response, 400)
        assert field in response.json()["error"]["message"]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"allowance_sizes": ["q-"]}, "items[0].allowance_sizes[0]"),
            ({"allowance_sizes": ["s-", "m-99vcpu-1gb"]}, "items[0].allowance_sizes[1]"),
            ({"allowance_max_memory_mb": 0}, "items[0].allowance_max_memory_mb"),
        ],
    )
    def test_a_size_limited_allowance_names_the_bad_scope(self, admin_api, change, field):
        """Issue 18: an unknown size slug or family prefix is a 400 naming it."""
        make_plan("studio")
        body = {**NEW_VERSION, "items": [{**NEW_VERSION["items"][0], **change}]}
        response = admin_api.post(plan_url("studio") + "/versions", body, format="json")
        assert field in error_fields(response, 400)

    def test_a_studio_allowance_of_small_sizes_is_created_and_read_back(self, admin_api):
        make_plan("studio")
        small = {"allowance_sizes": ["s-"], "allowance_max_memory_mb": 4096}
        body = {**NEW_VERSION, "items": [{**NEW_VERSION["items"][0], **small}]}
        response = admin_api.post(plan_url("studio") + "/versions", body, format="json")
        assert response.status_code == 201, response.content
        (droplets,) = response.json()["items"]
        assert (droplets["allowance_sizes"], droplets["allowance_max_memory_mb"]) == (["s-"], 4096)

    def test_a_duplicate_kind_names_the_second_item(self, admin_api):
        make_plan("studio")
        items = [NEW_VERSION["items"][0], NEW_VERSION["items"][0]]
        response = admin_api.post(
            plan_url("studio") + "/versions", {**NEW_VERSION, "items": items}, format="json"
        )
        assert list(error_fields(response, 400)) == ["items[1].resource_kind"]

    def test_bad_currency_and_unknown_plan(self, admin_api):
        make_plan("studio")
        bad = admin_api.post(
            plan_url("studio") + "/versions", {**NEW_VERSION, "currency": "aud"}, format="json"
        )
        assert list(error_fields(bad, 400)) == ["currency"]
        missing = admin_api.post(plan_url("nope") + "/versions", NEW_VERSION, format="json")
        assert missing.status_code == 404

    def test_duplicate_plan_code_names_code(self, admin_api):
        make_plan("studio")
        response = admin_api.post(PLANS, {"code": "studio", "name": "Again"}, format="json")
        assert list(error_fields(response, 400)) == ["code"]

    def test_admin_creates_an_addon(self, admin_api):
        body = {
            "code": "storage_1tb",
            "name": "Storage +1 TB",
            "resource_kind": "spaces_gb_month",
            "qty": "1000",
            "price_cents": 10000,
            "currency": "AUD",
        }
        response = admin_api.post(ADDONS, body, format="json")
        assert response.status_code == 201
        assert response.json() == {**body, "is_active": True}


WRITES = [
    ("post", PLANS, {"code": "x", "name": "X"}),
    ("post", plan_url("studio") + "/versions", NEW_VERSION),
    ("put", "/api/v1/catalog/versions/{version}/items", {"items": []}),
    ("post", "/api/v1/catalog/versions/{version}/publish", None),
    ("post", ADDONS, {"code": "x"}),
]
READS = [
    ("get", PLANS, None),
    ("get", plan_url("studio"), None),
    ("get", "/api/v1/catalog/versions/{version}", None),
    ("get", ADDONS, None),
]


@pytest.fixture
def draft():
    return make_version(make_plan("studio"))


def call(client, method: str, url: str, body, draft):
    return getattr(client, method)(url.format(version=draft.pk), body, format="json")


@pytest.mark.parametrize(("method", "url", "body"), READS + WRITES)
def test_anonymous_is_401_and_gateway_only_is_403(anon_api, gateway_api, draft, method, url, body):
    assert call(anon_api, method, url, body, draft).status_code == 401
    assert call(gateway_api, method, url, body, draft).status_code == 403


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_tenants_cannot_change_the_catalog(tenant_a_api, draft, method, url, body):
    assert call(tenant_a_api, method, url, body, draft).status_code == 403
    assert PlanVersion.objects.get(pk=draft.pk).status == "draft"
