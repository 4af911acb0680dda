"""Every URL under /api/ that names no route is a 404 in the error envelope (SPEC §15), whatever
the method, the caller or DEBUG: the API URLconf ends in a catch-all (docs/decisions.md)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import resolve

from arcadia_cloud.errors import api_route_not_found
from arcadia_cloud.idempotency import serves
from arcadia_cloud.models import IdempotencyKey
from tests.conftest import TENANT_A, make_api_client

pytestmark = pytest.mark.django_db

WRONG_SHAPES = [
    "/api/nope",
    "/api/v1/nope",
    "/api/v1/deployments/abc",  # not an int id
    f"/api/v1/deployments/{uuid.uuid4()}",  # an id of the wrong kind
    "/api/v1/deployments/",  # the collection is spelled without a trailing slash
    "/api/v1/deployments/1/no-such-action",
    "/api/v1/inventory/1/",
    "/api/schema",  # the schema is spelled with one
    "/api/v1/%00",  # a NUL names nothing (refused before routing)
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def assert_not_found_envelope(response, path: str) -> dict:
    assert response.status_code == 404, (path, response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/json", (path, response["Content-Type"])
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == "not_found", error
    assert error["fields"] == {}, error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def send(client, method: str, path: str, **extra):
    return client.generic(method, path, data=b'{"a": 1}', content_type="application/json", **extra)


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", WRONG_SHAPES)
def test_a_url_under_api_that_names_no_route_is_a_json_404(settings, debug, path):
    settings.DEBUG = debug
    anonymous = Client(enforce_csrf_checks=True)  # a plain Django view would be a CSRF 403
    tenant = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    admin = make_api_client("platform-admin", ["platform_admin"], sub="ops")
    for method in METHODS:
        for client in (anonymous, tenant, admin):
            assert_not_found_envelope(send(client, method, path), f"{method} {path}")


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_keyed_write_to_no_route_is_a_plain_404_that_records_nothing(settings, debug):
    settings.DEBUG = debug
    tenant = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    for path in WRONG_SHAPES:
        for key in ("k-1", "k" * 300):  # a key, and one too long to be a key
            response = send(tenant, "POST", path, HTTP_IDEMPOTENCY_KEY=key)
            assert_not_found_envelope(response, path)
            assert "Idempotent-Replayed" not in response
    assert not IdempotencyKey.objects.exists()


def test_the_message_names_the_path_and_the_spelling_that_exists():
    client = Client()
    error = assert_not_found_envelope(client.get("/api/v1/nope"), "/api/v1/nope")
    assert "/api/v1/nope" in error["message"]
    slash = assert_not_found_envelope(client.get("/api/v1/whoami/"), "/api/v1/whoami/")
    assert "/api/v1/whoami" in slash["message"] and "did you mean" in slash["message"]
    schema = assert_not_found_envelope(client.get("/api/schema"), "/api/schema")
    assert "/api/schema/" in schema["message"]


def test_routes_still_win_over_the_catch_all(tenant_a_api):
    assert tenant_a_api.get("/api/v1/whoami").status_code == 200
    assert Client().get("/api/health").status_code == 200
    assert resolve("/api/v1/nope").func is api_route_not_found
    assert resolve("/api/v1/whoami").func is not api_route_not_found


def test_the_catch_all_is_not_a_served_route_and_not_in_the_schema(admin_api):
    assert not serves("POST", "/api/v1/nope")
    assert not serves("GET", "/api/v1/deployments/abc")
    assert serves("GET", "/api/v1/deployments/1")
    schema = admin_api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/whoami" in paths
    assert [p for p in paths if not p.startswith("/api/v1/") and p != "/api/health"] == []


def test_outside_the_api_a_missing_page_is_still_the_html_404(settings):
    settings.DEBUG = False
    response = Client().get("/nope")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
