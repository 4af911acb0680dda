"""Production posture: deploy checks, transport security, the admin gate, tokens, secrets in
logs, request size limits.

The production settings are only what `ARCADIA_ENV=production` makes of the environment at
import time, so they are read in a subprocess started that way (with real-looking secrets);
behaviour that needs the database or the admin's templates is then checked in-process with
exactly those settings applied.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import secrets
import subprocess
import sys
from io import StringIO

import jwt
import pytest
import responses
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from billing.services import finance_push
from catalog.models import Plan
from invoicing.models import LLMUsageEvent
from tests.billing.factories import make_invoice as make_cost_invoice
from tests.conftest import TENANT_A, make_api_client
from tests.deployments.factories import make_deployment
from tests.services import ROOT

SECURITY_SETTINGS = (
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
)
PROBE = """
import json, sys, django
django.setup()
from django.conf import settings
from django.test import Client
names = sys.argv[1:]
client = Client(HTTP_HOST="arcadia.example")
plain = client.get("/api/health")
tls = client.get("/api/health", secure=True)
proxied = client.get("/api/health", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "settings": {name: getattr(settings, name) for name in names},
    "plain": [plain.status_code, plain.get("Location")],
    "tls": [tls.status_code, dict(tls.items())],
    "proxied": proxied.status_code,
}))
"""


SELLER = {
    "SELLER_LEGAL_NAME": "Arcadia Cloud Pty Ltd",
    "SELLER_ABN": "53 004 085 616",
    "SELLER_ADDRESS": "1 Harbour St, Sydney NSW 2000",
    "SELLER_PAYMENT_INSTRUCTIONS": "BSB 062-000, account 1234 5678",
}


def production_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    env.update(
        ARCADIA_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(60),
        ARCADIA_JWT_SECRET=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="arcadia.example",
        ARCADIA_VAR_DIR=str(tmp_path),
        **SELLER,
        DJANGO_SETTINGS_MODULE="arcadia_cloud.settings",
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    """What production settings answer, read from a process started with ARCADIA_ENV=production."""
    env = production_env(tmp_path_factory.mktemp("production-var"))
    result = run(["-c", PROBE, *SECURITY_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_deploy_checks_pass_with_production_settings(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_redirects_plain_http_and_trusts_the_proxy_header(production):
    status, location = production["plain"]
    assert status == 301 and location == "https://arcadia.example/api/health"
    assert production["proxied"] == 200  # TLS ended at the load balancer
    assert production["tls"][0] == 200


def test_production_responses_carry_the_security_headers(production):
    headers = {name.lower(): value for name, value in production["tls"][1].items()}
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert production["settings"]["DEBUG"] is False


@pytest.fixture
def production_security(settings, production):
    for name, value in production["settings"].items():
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    return settings


@pytest.mark.django_db
def test_admin_cookies_are_secure_in_production(client, production_security):
    User.objects.create_user("ops", password="a-long-operator-password", is_staff=True)
    page = client.get("/admin/login/", secure=True)
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] is True

    login = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "ops",
            "password": "a-long-operator-password",
            "csrfmiddlewaretoken": csrf.value,
        },
        secure=True,
        HTTP_REFERER="https://testserver/admin/login/",
    )
    assert login.status_code == 302 and login["Location"] == "/admin/"
    session = login.cookies["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert session["samesite"].lower() == "lax"
    assert client.get("/admin/", secure=True).status_code == 200


# -- the admin is for staff only ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/invoicing/tenantinvoice/", "/admin/analytics/"]
)
def test_the_admin_sends_non_staff_users_to_the_login_page(client, path):
    assert client.get(path).status_code == 302  # anonymous
    user = User.objects.create_user("tenant-person", password="another-long-password")
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# -- tokens --------------------------------------------------------------------------------------


def _unsigned(payload: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def _admin_claims(**overrides) -> dict:
    claims = {
        "sub": "mallory",
        "tenant_id": "platform-admin",
        "roles": ["platform_admin"],
        "exp": int((timezone.now() + dt.timedelta(minutes=5)).timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda secret: _unsigned(_admin_claims()), id="alg-none"),
        pytest.param(
            lambda secret: jwt.encode(_admin_claims(exp=None), secret, algorithm="HS512"),
            id="no-exp",
        ),
        pytest.param(
            lambda secret: jwt.encode(_admin_claims(), "guessed-" + secret, algorithm="HS512"),
            id="wrong-secret",
        ),
        pytest.param(
            lambda secret: jwt.encode(_admin_claims(exp=1), secret, algorithm="HS512"),
            id="expired",
        ),
    ],
)
def test_a_forged_admin_token_opens_nothing(client, settings, token):
    """tests/test_auth.py covers the reasons on /whoami; here the forged token claims
    platform_admin and tries an admin read and a write, with an Idempotency-Key."""
    forged = token(settings.ARCADIA_JWT_SECRET)
    headers = {"Authorization": f"Bearer {forged}"}
    read = client.get("/api/v1/dashboard/accrual", headers=headers)
    write = client.post(
        "/api/v1/catalog/plans",
        data={"code": "forged", "name": "Forged"},
        content_type="application/json",
        headers={**headers, "Idempotency-Key": "forged-1"},
    )
    assert read.status_code == write.status_code == 401
    assert write.json()["error"]["code"] == "invalid_token"
    assert not Plan.objects.filter(code="forged").exists()


# -- secrets never reach the logs ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_jwt_secret_and_tokens_never_reach_logs_or_responses(client, settings, caplog):
    secret = f"jwt-secret-{secrets.token_hex(40)}"
    settings.ARCADIA_JWT_SECRET = secret
    settings.FINANCE_URL = "https://finance.test"
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "django", "django.request", "billing", "arcadia_cloud"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen: list[str] = []

    out = StringIO()
    call_command("mint_token", "--tenant", TENANT_A, "--role", "tenant_user", stdout=out)
    minted = out.getvalue().strip()
    seen.append(
        client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {minted}"}).content.decode()
    )
    for bad in (
        jwt.encode(_admin_claims(), secret + "x", algorithm="HS512"),
        jwt.encode(_admin_claims(exp=1), secret, algorithm="HS512"),
        _unsigned(_admin_claims()),
        "Bearer-but-garbage",
    ):
        response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401
        seen.append(response.content.decode())

    invoice = make_cost_invoice(lines_ingested_at=timezone.now(), line_count=0)
    with responses.RequestsMock() as finance:
        finance.post(
            "https://finance.test/api/v1/integrations/cloud/import-invoice",
            status=401,
            json={"detail": "token rejected"},
        )
        finance_push(invoice=invoice)
        pushed_token = finance.calls[0].request.headers["Authorization"].split()[1]
    invoice.refresh_from_db()
    seen.append(invoice.last_error)

    logged = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [str(record.args) for record in caplog.records]
        + [record.exc_text or "" for record in caplog.records]
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for leaked in (secret, minted, pushed_token):
        assert leaked not in logged
        assert not any(leaked in text for text in seen)


# -- request size ----------------------------------------------------------------------------------


def _events(deployment, count: int, prefix: str) -> list[dict]:
    return [
        {
            "gateway_request_id": f"{prefix}-{n:05d}-{'x' * 40}",
            "deployment_id": deployment.pk,
            "tenant_id": deployment.tenant_id,
            "model": "claude-sonnet-4-5-20250929",
            "input_tokens": 12345,
            "output_tokens": 678,
            "charge": "0.01234567",
            "currency": "AUD",
            "occurred_at": "2026-04-10T12:00:00Z",
        }
        for n in range(count)
    ]


@pytest.mark.django_db
def test_a_full_batch_of_1000_events_fits_the_body_limit(gateway_api):
    deployment = make_deployment(tenant_id=TENANT_A)
    body = json.dumps({"events": _events(deployment, 1000, "full")})
    response = gateway_api.post(
        "/api/v1/integrations/llm-usage", data=body, content_type="application/json"
    )
    assert response.status_code == 201, response.content[:300]
    assert LLMUsageEvent.objects.count() == 1000


@pytest.mark.django_db
@pytest.mark.parametrize("idempotency_key", [None, "oversized-1"])
def test_a_body_over_the_limit_is_a_413_in_the_envelope(settings, idempotency_key):
    deployment = make_deployment(tenant_id=TENANT_A)
    gateway = make_api_client("platform-admin", ["llm_gateway"], sub="gateway")
    events = _events(deployment, 1000, "big")
    for event in events:
        event["model"] = "m" * 2000
    body = json.dumps({"events": events})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}

    response = gateway.post(
        "/api/v1/integrations/llm-usage",
        data=body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "1000 events" in error["message"]
    assert LLMUsageEvent.objects.count() == 0


@pytest.mark.django_db
def test_more_than_1000_events_under_the_size_limit_is_a_400_naming_events(gateway_api):
    deployment = make_deployment(tenant_id=TENANT_A)
    body = json.dumps({"events": _events(deployment, 1001, "many")})
    response = gateway_api.post(
        "/api/v1/integrations/llm-usage", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "events" in response.json()["error"]["fields"]
    assert LLMUsageEvent.objects.count() == 0
