"""The token matrix: what the API accepts as identity, and what it refuses (SPEC §3)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

from arcadia_cloud.auth import mint_token

pytestmark = pytest.mark.django_db

PROBE = "/api/v1/whoami"


def _payload(**overrides):
    now = timezone.now()
    payload = {
        "sub": "user-1",
        "tenant_id": "4f1c9a52-8d7e-4b63-9a11-0c2d5e6f7a81",
        "roles": ["tenant_user"],
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not ...}


def _call(client, token):
    return client.get(PROBE, HTTP_AUTHORIZATION=f"Bearer {token}")


def _encode(payload, algorithm="HS512", secret=None):
    return jwt.encode(payload, secret or settings.ARCADIA_JWT_SECRET, algorithm=algorithm)


def test_valid_hs512_token_is_accepted(client):
    response = _call(client, _encode(_payload()))
    assert response.status_code == 200
    assert response.json() == {
        "sub": "user-1",
        "tenant_id": "4f1c9a52-8d7e-4b63-9a11-0c2d5e6f7a81",
        "roles": ["tenant_user"],
        "is_platform_admin": False,
    }


def test_hs256_is_also_accepted(client):
    response = _call(client, _encode(_payload(), algorithm="HS256"))
    assert response.status_code == 200


def test_slug_tenant_id_works(client):
    token = _encode(_payload(tenant_id="platform-admin", roles=["platform_admin"]))
    body = _call(client, token).json()
    assert body["tenant_id"] == "platform-admin"
    assert body["is_platform_admin"] is True


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: _encode(_payload(exp=int(timezone.now().timestamp()) - 10)), "expired"),
        (lambda: _encode(_payload(exp=...)), "'exp'"),
        (lambda: _encode(_payload(), secret="not-the-shared-secret-" * 4), "signature"),
        (lambda: _encode(_payload(), algorithm="HS384"), "algorithm"),
        (lambda: _encode(_payload(tenant_id=...)), "tenant_id"),
        (lambda: _encode(_payload(tenant_id="")), "tenant_id"),
        (lambda: _encode(_payload(sub=...)), "sub"),
        (lambda: _encode(_payload(roles="platform_admin")), "roles"),
        (lambda: "not-a-jwt", "malformed"),
    ],
    ids=[
        "expired",
        "missing-exp",
        "bad-signature",
        "unexpected-algorithm",
        "missing-tenant",
        "empty-tenant",
        "missing-sub",
        "roles-not-a-list",
        "garbage",
    ],
)
def test_bad_tokens_are_401_with_a_reason(client, token_factory, reason):
    response = _call(client, token_factory())
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_token"
    assert reason.lower() in error["message"].lower()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_alg_none_is_refused(client):
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(_payload())}."
    response = _call(client, unsigned)
    assert response.status_code == 401


def test_missing_header_is_401(client):
    response = client.get(PROBE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_wrong_scheme_is_401(client):
    response = client.get(PROBE, HTTP_AUTHORIZATION=f"Token {_encode(_payload())}")
    assert response.status_code == 401


def test_gateway_only_token_cannot_read_other_endpoints(client):
    token = mint_token(tenant_id="platform-admin", roles=["llm_gateway"])
    response = _call(client, token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_mint_token_command_prints_a_token_the_api_accepts(client):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "mint_token", "--tenant", "acme", "--role", "tenant_user", "--ttl", "120", stdout=out
    )
    token = out.getvalue().strip()
    claims = jwt.decode(token, settings.ARCADIA_JWT_SECRET, algorithms=["HS512"])
    assert claims["tenant_id"] == "acme"
    assert claims["roles"] == ["tenant_user"]
    assert 110 <= claims["exp"] - claims["iat"] <= 120
    assert _call(client, token).status_code == 200
