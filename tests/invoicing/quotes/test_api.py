"""POST /api/v1/quote: the price preview through the one pricing path (SPEC §10, §17 ex. 1)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

URL = "/api/v1/quote"


@pytest.fixture(autouse=True)
def seeded_catalog():
    call_command("seed_catalog", verbosity=0)


def post(client, body):
    return client.post(URL, body, format="json")


def test_worked_example_1_to_the_cent(tenant_a_api):
    response = post(
        tenant_a_api,
        {
            "plan_code": "studio",
            "addons": ["storage_50gb"],
            "projected_usage": {
                "droplet_hours": 1488,
                "spaces_gb_month": 200,
                "llm_tokens": 1500000,
            },
            "starts_on": "2026-05-20",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["plan_code"], body["plan_version"], body["currency"]) == ("studio", 1, "AUD")
    assert body["recurring"]["total_cents"] == 5750
    assert body["first_invoice"]["fraction"] == "12/31"
    assert [line["amount_cents"] for line in body["first_invoice"]["lines"]] == [1935, 290]
    assert body["first_invoice"]["total_cents"] == 2225
    overage = {line["resource_kind"]: line["amount_cents"] for line in body["overage"]["lines"]}
    assert overage == {"llm_tokens": 500, "spaces_gb_month": 100}
    assert body["overage"]["total_cents"] == 600
    assert body["all_in_monthly_cents"] == 6350
    spaces = next(
        line for line in body["overage"]["lines"] if line["resource_kind"] == "spaces_gb_month"
    )
    assert spaces["meta"]["allowance"] == "150"


def test_json_numbers_with_fractions_are_exact(tenant_a_api):
    body = post(
        tenant_a_api, {"plan_code": "starter", "projected_usage": {"droplet_hours": 744.5}}
    ).json()
    line = body["overage"]["lines"][0]
    assert line["qty"] == "0.5" and line["amount_cents"] == 1  # 0.5 x 1c, half-up to 1c


def test_kind_outside_the_plan_uses_the_resource_price(tenant_a_api):
    body = post(
        tenant_a_api, {"plan_code": "starter", "projected_usage": {"volume_gb_month": 100}}
    ).json()
    (line,) = body["overage"]["lines"]
    assert (line["kind"], line["amount_cents"], line["unit_price_cents"]) == ("usage", 1500, 15)


def test_unpriced_kind_is_a_zero_line_with_a_warning(tenant_a_api):
    body = post(
        tenant_a_api, {"plan_code": "starter", "projected_usage": {"llm_tokens": 5000}}
    ).json()
    (line,) = body["overage"]["lines"]
    assert line["amount_cents"] == 0 and line["meta"]["unpriced"] is True
    assert any("llm_tokens" in warning for warning in body["warnings"])


def test_no_start_date_quotes_a_whole_month(tenant_a_api):
    body = post(tenant_a_api, {"plan_code": "pro"}).json()
    assert body["first_invoice"]["total_cents"] == body["recurring"]["total_cents"] == 12000
    numerator, denominator = body["first_invoice"]["fraction"].split("/")
    assert numerator == denominator


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan_code": "gold"}, "plan_code"),
        ({"plan_code": "studio", "addons": ["storage_9tb"]}, "addons"),
        ({"plan_code": "starter", "addons": ["llm_1m_tokens"]}, "addons"),
        (
            {"plan_code": "studio", "projected_usage": {"droplet_hours": -1}},
            "projected_usage.droplet_hours",
        ),
        (
            {"plan_code": "studio", "projected_usage": {"droplet_hours": "lots"}},
            "projected_usage.droplet_hours",
        ),
        ({"plan_code": "studio", "projected_usage": {"gpu_hours": 1}}, "projected_usage.gpu_hours"),
        ({"plan_code": "studio", "projected_usage": [1, 2]}, "projected_usage"),
        ({"plan_code": "studio", "starts_on": "2026-02-30"}, "starts_on"),
        ({"plan_code": "studio", "addons": "storage_50gb"}, "addons"),
        ({}, "plan_code"),
    ],
)
def test_bad_input_is_400_naming_the_field(tenant_a_api, body, field):
    response = post(tenant_a_api, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()


def test_drafts_are_never_quoted(admin_api, tenant_a_api):
    from catalog.models import PlanVersion
    from catalog.selectors import active_version
    from catalog.services import PlanItemInput, plan_version_create

    studio = active_version("studio")
    plan_version_create(
        plan=studio.plan,
        base_price_cents=9999,
        currency="AUD",
        items=[PlanItemInput(resource_kind="droplet_hours", included_qty=1, overage_price_cents=1)],
        actor="test",
    )
    assert PlanVersion.objects.filter(plan__code="studio").count() == 2
    body = post(tenant_a_api, {"plan_code": "studio"}).json()
    assert (body["plan_version"], body["recurring"]["total_cents"]) == (1, 5000)


def test_quote_writes_nothing(tenant_a_api, django_assert_max_num_queries):
    with django_assert_max_num_queries(8) as captured:
        post(
            tenant_a_api,
            {
                "plan_code": "studio",
                "addons": ["storage_50gb"],
                "projected_usage": {"volume_gb_month": 3},
            },
        )
    assert not [
        q
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_roles(anon_api, gateway_api, admin_api):
    assert post(anon_api, {"plan_code": "studio"}).status_code == 401
    assert post(gateway_api, {"plan_code": "studio"}).status_code == 403
    assert post(admin_api, {"plan_code": "studio"}).status_code == 200
