"""Health, the error envelope, Idempotency-Key and the OpenAPI schema (SPEC §15)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from arcadia_cloud.models import IdempotencyKey
from tests import urls_probe

pytestmark = pytest.mark.django_db


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "fields"} <= set(body["error"])
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_health_is_public_and_reports_the_database(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "arcadia-cloud"
    assert body["version"]
    assert body["database"] == "ok"


def test_unknown_api_route_is_a_json_404(client):
    assert_envelope(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_method_not_allowed_is_405_envelope(tenant_a_api):
    assert_envelope(
        tenant_a_api.post("/api/v1/whoami", {}, format="json"), 405, "method_not_allowed"
    )


@pytest.fixture
def probe_urls(settings):
    settings.ROOT_URLCONF = "tests.urls_probe"
    urls_probe.CALLS["count"] = 0


def test_validation_error_names_the_field(probe_urls, tenant_a_api):
    response = tenant_a_api.post("/api/probe/write", {"name": "x", "qty": -1}, format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert "qty" in error["fields"]
    assert "qty" in error["message"]


def test_malformed_json_is_400(probe_urls, tenant_a_api):
    response = tenant_a_api.post(
        "/api/probe/write", data="{not json", content_type="application/json"
    )
    assert_envelope(response, 400, "parse_error")


def test_unsupported_media_type_is_415(probe_urls, tenant_a_api):
    response = tenant_a_api.post("/api/probe/write", data="name=x", content_type="text/plain")
    assert_envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("conflict", 409, "conflict"),
        ("state", 422, "invalid_state_change"),
        ("missing", 404, "not_found"),
    ],
)
def test_application_errors_map_to_their_status(probe_urls, tenant_a_api, kind, status, code):
    response = tenant_a_api.post("/api/probe/error", {"raise": kind}, format="json")
    error = assert_envelope(response, status, code)
    if kind == "state":
        assert error["allowed"] == ["active"]
    if kind == "conflict":
        assert error["fields"] == {"name": ["taken"]}


def test_a_field_error_raised_anywhere_is_the_400_naming_the_field(probe_urls, tenant_a_api):
    response = tenant_a_api.post("/api/probe/error", {"raise": "field"}, format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert error["message"] == "usage[llm_tokens]: must not be negative, got -1"
    assert error["fields"] == {"usage[llm_tokens]": ["must not be negative, got -1"]}


def test_idempotency_key_replays_the_first_response(probe_urls, tenant_a_api):
    body = {"name": "web", "qty": 2}
    first = tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert json.loads(second.content) == json.loads(first.content) == {"call": 1, **body}
    assert second["Idempotent-Replayed"] == "true"
    assert urls_probe.CALLS["count"] == 1


def test_idempotency_key_with_a_different_body_is_409(probe_urls, tenant_a_api):
    tenant_a_api.post(
        "/api/probe/write", {"name": "a", "qty": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    response = tenant_a_api.post(
        "/api/probe/write", {"name": "b", "qty": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    error = assert_envelope(response, 409, "idempotency_key_reused")
    assert "Idempotency-Key" in error["fields"]
    assert urls_probe.CALLS["count"] == 1


def test_idempotency_keys_are_scoped_per_caller(probe_urls, tenant_a_api, tenant_b_api):
    body = {"name": "same", "qty": 1}
    tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = tenant_b_api.post(
        "/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert response.status_code == 201
    assert response.json()["call"] == 2, "tenant B must never receive tenant A's stored response"


def test_idempotency_keys_expire_after_a_day(probe_urls, tenant_a_api):
    body = {"name": "web", "qty": 2}
    tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    IdempotencyKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    again = tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert again.json()["call"] == 2


def test_validation_failures_are_replayed_too(probe_urls, tenant_a_api):
    body = {"name": "web", "qty": -5}
    first = tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    second = tenant_a_api.post("/api/probe/write", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert first.status_code == second.status_code == 400
    assert second.content == first.content


def test_overlong_idempotency_key_is_400(probe_urls, tenant_a_api):
    response = tenant_a_api.post(
        "/api/probe/write", {"name": "a", "qty": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
    )
    assert_envelope(response, 400, "validation_error")
    assert urls_probe.CALLS["count"] == 0


def test_purge_forgets_expired_keys(probe_urls, tenant_a_api):
    from arcadia_cloud.idempotency import purge_expired_keys

    tenant_a_api.post(
        "/api/probe/write", {"name": "a", "qty": 1}, format="json", HTTP_IDEMPOTENCY_KEY="old"
    )
    tenant_a_api.post(
        "/api/probe/write", {"name": "b", "qty": 1}, format="json", HTTP_IDEMPOTENCY_KEY="new"
    )
    IdempotencyKey.objects.filter(key="old").update(
        expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert purge_expired_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_openapi_schema_renders_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "openapi: 3" in text
    assert "/api/health" in text


def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content.lower()
    assert b"cdn.jsdelivr" not in docs.content, "docs assets must come from the sidecar package"
