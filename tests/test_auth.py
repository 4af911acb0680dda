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
from deployments.models import Deployment
from tests.conftest import TENANT_A

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


LEEWAY = 30  # ARCADIA_JWT_LEEWAY_SECONDS' default


def _now() -> int:
    return int(timezone.now().timestamp())


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
        (lambda: _encode(_payload(exp=_now() - LEEWAY - 5)), "expired"),
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


# Odd claims in validly signed tokens (issue 14, item 4): each is a 401 naming the claim, never a
# 500 further down (the probe's were an OverflowError on `exp` = 10**30, and NUL or lone
# surrogates in `tenant_id` / `sub` failing the database or the JSON encoder on a write).

ODD_CLAIMS = [
    ({"exp": "tomorrow"}, "'exp'"),
    ({"exp": 10**30}, "'exp'"),
    ({"exp": 1e300}, "'exp'"),
    ({"exp": True}, "'exp'"),
    ({"exp": None}, "'exp'"),
    ({"exp": -1}, "'exp'"),
    ({"exp": [1]}, "'exp'"),
    ({"iat": "yesterday"}, "'iat'"),
    ({"iat": 10**30}, "'iat'"),
    ({"nbf": 10**30}, "'nbf'"),
    ({"nbf": {"at": 1}}, "'nbf'"),
    ({"sub": 10**30}, "'sub'"),
    ({"sub": "alice\x00"}, "'sub'"),
    ({"sub": "\ud800"}, "'sub'"),
    ({"sub": "alice\nbob"}, "'sub'"),
    ({"sub": "x" * 201}, "'sub'"),
    ({"tenant_id": "acme\x00"}, "tenant_id"),
    ({"tenant_id": "a\ud800"}, "tenant_id"),
    ({"tenant_id": 42}, "tenant_id"),
    ({"tenant_id": ["acme"]}, "tenant_id"),
    ({"tenant_id": "Acme Corp"}, "tenant_id"),
    ({"tenant_id": "acme/../tenant-b"}, "tenant_id"),
    ({"tenant_id": "-acme"}, "tenant_id"),
    ({"tenant_id": "a" * 64}, "tenant_id"),
    ({"tenant_id": "ACME"}, "tenant_id"),
    ({"roles": ["platform_admin", "x\x00"]}, "roles"),
    ({"roles": ["\udc80"]}, "roles"),
    ({"roles": [""]}, "roles"),
    ({"roles": [" platform_admin"]}, "roles"),
    ({"roles": ["r"] * 51}, "roles"),
    ({"roles": [["platform_admin"]]}, "roles"),
]

ODD_CLAIM_IDS = [repr(claims)[:40] for claims, _ in ODD_CLAIMS]


@pytest.mark.parametrize(("claims", "reason"), ODD_CLAIMS, ids=ODD_CLAIM_IDS)
@pytest.mark.parametrize("request_kind", ["read", "write"])
def test_a_signed_token_with_an_odd_claim_is_a_401_naming_it(client, claims, reason, request_kind):
    token = _encode(_payload(**{"roles": ["platform_admin"], **claims}))
    if request_kind == "read":
        response = _call(client, token)
    else:  # through the Idempotency-Key middleware and a service writing the caller's identity
        response = client.post(
            "/api/v1/deployments",
            {"slug": "odd-claims", "display_name": "Odd"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="odd-claims-1",
        )
    assert response.status_code == 401, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_token"
    assert reason in error["message"], error["message"]
    assert not Deployment.objects.exists()


def test_a_payload_nested_too_deep_is_a_401(client):
    payload = json.dumps(_payload())[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    token = jwt.api_jws.encode(payload.encode(), settings.ARCADIA_JWT_SECRET, algorithm="HS512")
    response = _call(client, token)
    assert response.status_code == 401
    assert "malformed" in response.json()["error"]["message"]


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_issued_a_moment_in_the_issuers_future_is_accepted(client, claim):
    """arcadia-app's clock running a couple of seconds fast must not lock its users out."""
    token = _encode(_payload(**{claim: _now() + 2}))
    assert _call(client, token).status_code == 200


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_beyond_the_leeway_is_refused_with_the_reason(client, claim):
    response = _call(client, _encode(_payload(**{claim: _now() + LEEWAY + 30})))
    assert response.status_code == 401
    assert f"'{claim}'" in response.json()["error"]["message"]


def test_a_token_expired_within_the_leeway_is_still_accepted(client):
    assert _call(client, _encode(_payload(exp=_now() - 5))).status_code == 200


def test_the_leeway_is_configurable(client, settings):
    settings.ARCADIA_JWT_LEEWAY_SECONDS = 0
    assert _call(client, _encode(_payload(iat=_now() + 5))).status_code == 401
    settings.ARCADIA_JWT_LEEWAY_SECONDS = 60
    assert _call(client, _encode(_payload(nbf=_now() + 45))).status_code == 200


def test_fractional_numeric_dates_are_read(client):
    """RFC 7519 NumericDates may carry a fraction."""
    now = timezone.now().timestamp()
    assert _call(client, _encode(_payload(iat=now, nbf=now, exp=now + 60.5))).status_code == 200


# The tenant claim is normalized once, at authentication (issue 14, item 13): reads and writes
# compare the same spelling, so a token for " acme" can never write into acme while reading
# something else.


@pytest.mark.parametrize(
    ("claimed", "tenant"),
    [
        (" acme", "acme"),
        ("acme\n", "acme"),
        ("\tskyai-internal ", "skyai-internal"),
        ("4F1C9A52-8D7E-4B63-9A11-0C2D5E6F7A81", "4f1c9a52-8d7e-4b63-9a11-0c2d5e6f7a81"),
    ],
)
def test_the_tenant_claim_is_normalized_once_for_reads_and_writes(client, claimed, tenant):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {_encode(_payload(tenant_id=claimed))}"}

    assert client.get(PROBE, **auth).json()["tenant_id"] == tenant
    created = client.post(
        "/api/v1/deployments",
        {"slug": "shop", "display_name": "Shop"},
        content_type="application/json",
        **auth,
    )
    listed = client.get("/api/v1/deployments", **auth).json()["results"]
    read_back = client.get(f"/api/v1/deployments/{created.json()['id']}", **auth)

    assert created.status_code == 201, created.content
    assert Deployment.objects.get().tenant_id == tenant
    assert [d["slug"] for d in listed] == ["shop"]
    assert read_back.status_code == 200


def test_tenant_ids_the_project_uses_are_in_the_allowed_shape(client):
    for tenant in ["platform-admin", "skyai-internal", "acme", "tenant-b", "t0", TENANT_A]:
        token = _encode(_payload(tenant_id=tenant))
        assert _call(client, token).json()["tenant_id"] == tenant
