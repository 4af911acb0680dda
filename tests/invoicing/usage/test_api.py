"""POST /api/v1/integrations/llm-usage (SPEC §12)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from invoicing.models import LLMUsageEvent, UsageRecord
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/llm-usage"
DAY = dt.date(2026, 5, 14)


def event(deployment, n: int = 1, **overrides) -> dict:
    body = {
        "gateway_request_id": f"gw-{n}",
        "deployment_id": deployment.pk,
        "tenant_id": deployment.tenant_id,
        "model": "claude-sonnet",
        "input_tokens": 1200,
        "output_tokens": 300,
        "charge": "0.01234567",
        "currency": "AUD",
        "occurred_at": f"{DAY.isoformat()}T10:15:00Z",
    }
    body.update(overrides)
    return body


def post(client, body, **headers):
    """Raw JSON text, so numbers reach the server exactly as written here."""
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, data=text, content_type="application/json", **headers)


@pytest.fixture
def deployment():
    return make_deployment(tenant_id=TENANT_A, llm_mode="passthrough")


def test_a_single_event_is_recorded_exactly(gateway_api, deployment):
    response = post(gateway_api, event(deployment))

    assert response.status_code == 201, response.json()
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "events": [{"gateway_request_id": "gw-1", "status": "created"}],
    }
    row = LLMUsageEvent.objects.get()
    assert (row.deployment_id, row.tenant_id, row.model) == (
        deployment.pk,
        TENANT_A,
        "claude-sonnet",
    )
    assert (row.input_tokens, row.output_tokens) == (1200, 300)
    assert row.charge == Decimal("0.01234567")
    assert (row.currency, row.occurred_at, row.billed_as) == ("AUD", at(DAY, 10, 15), "passthrough")
    assert row.received_at is not None
    assert len(row.payload_hash) == 64


def test_a_json_number_charge_is_read_from_its_digits_not_as_a_float(gateway_api, deployment):
    text = json.dumps(event(deployment, charge="CHARGE")).replace('"CHARGE"', "0.1")

    assert post(gateway_api, text).status_code == 201
    assert LLMUsageEvent.objects.get().charge == Decimal("0.1")


def test_a_batch_is_recorded_in_request_order(admin_api, deployment):
    batch = {"events": [event(deployment, n) for n in (3, 1, 2)]}

    response = post(admin_api, batch)

    assert response.status_code == 201
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    assert [item["gateway_request_id"] for item in body["events"]] == ["gw-3", "gw-1", "gw-2"]
    assert LLMUsageEvent.objects.count() == 3


def test_a_repeat_with_the_same_payload_is_a_duplicate(gateway_api, deployment):
    post(gateway_api, event(deployment, charge="0.5"))

    # The same charge written another way is the same payload.
    response = post(gateway_api, {"events": [event(deployment, charge="0.50000000")]})

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 0,
        "duplicates": 1,
        "events": [{"gateway_request_id": "gw-1", "status": "duplicate"}],
    }
    assert LLMUsageEvent.objects.count() == 1


def test_a_batch_mixing_new_and_known_events_creates_only_the_new(gateway_api, deployment):
    post(gateway_api, event(deployment, 1))

    response = post(gateway_api, {"events": [event(deployment, 1), event(deployment, 2)]})

    assert response.status_code == 201
    assert [item["status"] for item in response.json()["events"]] == ["duplicate", "created"]
    assert LLMUsageEvent.objects.count() == 2


def test_a_repeat_with_another_payload_is_a_409_and_nothing_is_recorded(gateway_api, deployment):
    post(gateway_api, event(deployment, 1))

    response = post(
        gateway_api, {"events": [event(deployment, 2), event(deployment, 1, output_tokens=301)]}
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert list(error["fields"]) == ["events[1].gateway_request_id"]
    assert "'gw-1'" in error["message"]
    assert list(LLMUsageEvent.objects.values_list("gateway_request_id", flat=True)) == ["gw-1"]


def test_a_repeat_inside_one_batch(gateway_api, deployment):
    same = post(gateway_api, {"events": [event(deployment, 1), event(deployment, 1)]})
    assert same.status_code == 201
    assert [item["status"] for item in same.json()["events"]] == ["created", "duplicate"]

    different = post(
        gateway_api, {"events": [event(deployment, 5), event(deployment, 5, model="other")]}
    )
    assert different.status_code == 409
    assert list(different.json()["error"]["fields"]) == ["events[1].gateway_request_id"]


def test_a_duplicate_is_acknowledged_even_after_the_deployment_stopped_accepting_usage(
    gateway_api, deployment
):
    post(gateway_api, event(deployment))
    deployment.llm_mode = "none"
    deployment.save()

    response = post(gateway_api, event(deployment))

    assert response.status_code == 200
    assert response.json()["duplicates"] == 1


def test_more_than_1000_events_is_a_400_naming_events(gateway_api, deployment):
    response = post(gateway_api, {"events": [event(deployment, n) for n in range(1001)]})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events"]
    assert not LLMUsageEvent.objects.exists()


@pytest.mark.parametrize("events", [[], "gw-1", {"gateway_request_id": "x"}])
def test_events_must_be_a_non_empty_list(gateway_api, events):
    response = post(gateway_api, {"events": events})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events"]


def test_every_invalid_field_of_every_event_is_named(gateway_api, deployment):
    batch = {
        "events": [
            event(deployment, 1),
            event(deployment, 2, charge="0.123456789"),
            event(deployment, 3, input_tokens=-1, currency="aud", occurred_at="yesterday"),
            "not an event",
            {key: value for key, value in event(deployment, 5).items() if key != "model"},
        ]
    }

    response = post(gateway_api, batch)

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert sorted(fields) == [
        "events[1].charge",
        "events[2].currency",
        "events[2].input_tokens",
        "events[2].occurred_at",
        "events[3]",
        "events[4].model",
    ]
    assert "8 decimal places" in fields["events[1].charge"][0]
    assert not LLMUsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"charge": "-0.01"}, "charge"),
        ({"charge": "1E+400"}, "charge"),
        ({"charge": "NaN"}, "charge"),
        ({"charge": 10**12}, "charge"),
        ({"input_tokens": 1.5}, "input_tokens"),
        ({"output_tokens": True}, "output_tokens"),
        ({"output_tokens": 10**13}, "output_tokens"),
        ({"deployment_id": "abc"}, "deployment_id"),
        ({"deployment_id": 2**70}, "deployment_id"),
        ({"gateway_request_id": ""}, "gateway_request_id"),
        ({"gateway_request_id": "x" * 201}, "gateway_request_id"),
        ({"currency": "AUDD"}, "currency"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
    ],
)
def test_a_single_event_names_its_bad_field(gateway_api, deployment, overrides, field):
    response = post(gateway_api, event(deployment, **overrides))

    assert response.status_code == 400, response.json()
    assert list(response.json()["error"]["fields"]) == [field]


@pytest.mark.parametrize(
    "text", ["{", '{"charge": NaN}', "[1, 2]", '"event"', '{"events": [], "x": Infinity}']
)
def test_malformed_bodies_are_400s(gateway_api, text):
    response = post(gateway_api, text)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"parse_error", "validation_error"}


def test_a_deployment_of_another_tenant_reads_like_a_missing_one(gateway_api, deployment):
    batch = {
        "events": [
            event(deployment, 1),
            event(deployment, 2, tenant_id=TENANT_B),
            event(deployment, 3, deployment_id=deployment.pk + 1000),
        ]
    }

    response = post(gateway_api, batch)

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert sorted(fields) == ["events[1].deployment_id", "events[2].deployment_id"]
    assert fields["events[1].deployment_id"] == [
        f"no deployment {deployment.pk} belongs to tenant 'tenant-b'"
    ]
    assert not LLMUsageEvent.objects.exists()


def test_llm_mode_none_is_a_422_naming_the_deployment(gateway_api, deployment):
    closed = make_deployment(llm_mode="none")

    response = post(gateway_api, {"events": [event(deployment, 1), event(closed, 2)]})

    assert response.status_code == 422
    error = response.json()["error"]
    assert list(error["fields"]) == ["events[1].deployment_id"]
    assert f"deployment {closed.pk} has llm_mode none" in error["message"]
    assert not LLMUsageEvent.objects.exists()


def test_one_deployment_never_mixes_currencies(gateway_api, deployment):
    post(gateway_api, event(deployment, 1, currency="AUD"))

    response = post(gateway_api, {"events": [event(deployment, 2, currency="USD")]})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events[0].currency"]


def test_plan_mode_meters_tokens_as_daily_llm_tokens_usage(gateway_api):
    plan = make_deployment(llm_mode="plan")
    first = event(plan, 1, input_tokens=1000, output_tokens=500)
    same_day = event(plan, 2, input_tokens=200, output_tokens=0, occurred_at="2026-05-14T23:59Z")
    next_day = event(plan, 3, input_tokens=7, output_tokens=3, occurred_at="2026-05-15T00:00Z")

    post(gateway_api, {"events": [first, same_day]})
    post(gateway_api, {"events": [next_day, first]})  # the repeat adds nothing

    rows = UsageRecord.objects.order_by("period_start")
    assert [(row.period_start, row.qty) for row in rows] == [
        (at(DAY), Decimal(1700)),
        (at(DAY + dt.timedelta(days=1)), Decimal(10)),
    ]
    row = rows[0]
    assert (row.deployment_id, row.resource_id, row.resource_kind) == (plan.pk, None, "llm_tokens")
    assert (row.source, row.granularity) == ("llm_gateway", "daily")
    assert LLMUsageEvent.objects.filter(billed_as="plan").count() == 3


def test_passthrough_mode_meters_no_usage(gateway_api, deployment):
    post(gateway_api, event(deployment))

    assert not UsageRecord.objects.exists()


def test_a_tenant_token_is_refused(tenant_a_api, deployment):
    assert post(tenant_a_api, event(deployment)).status_code == 403
    assert not LLMUsageEvent.objects.exists()


def test_anonymous_callers_are_refused(anon_api, deployment):
    assert post(anon_api, event(deployment)).status_code == 401


def test_the_gateway_can_only_post(gateway_api):
    assert gateway_api.get(URL).status_code == 405
    assert gateway_api.get("/api/v1/whoami").status_code == 403


def test_an_idempotency_key_replays_the_first_response(gateway_api, deployment):
    body = {"events": [event(deployment)]}

    first = post(gateway_api, body, HTTP_IDEMPOTENCY_KEY="batch-7")
    second = post(gateway_api, body, HTTP_IDEMPOTENCY_KEY="batch-7")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert LLMUsageEvent.objects.count() == 1


def test_a_batch_of_1000_takes_a_bounded_number_of_queries(
    gateway_api, django_assert_max_num_queries
):
    passthrough, plan = make_deployment(), make_deployment(llm_mode="plan")
    batch = {
        "events": [
            event(passthrough if n % 2 else plan, n, occurred_at=f"2026-05-{n % 28 + 1:02d}T08:00Z")
            for n in range(1000)
        ]
    }

    with django_assert_max_num_queries(8):
        response = post(gateway_api, batch)

    assert response.status_code == 201
    assert response.json()["accepted"] == 1000
    assert UsageRecord.objects.filter(deployment=plan).count() == 14  # even n: 14 days
    assert sum(row.qty for row in UsageRecord.objects.all()) == 500 * 1500
