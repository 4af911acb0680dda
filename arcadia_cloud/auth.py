"""API identity: stateless JWT verification of tokens issued by arcadia-app.

This service never looks a caller up in a user table. A token is valid when it is signed with
`ARCADIA_JWT_SECRET` using HS512 (or HS256) and its claims pass `validated_claims`: `exp`
(required), `iat` and `nbf` (optional) are NumericDates within the years 1970-9999 and are
checked against the clock with `ARCADIA_JWT_LEEWAY_SECONDS` of leeway either way; `sub` is
printable text; `tenant_id` is a UUID or a slug (`arcadia_cloud.tenancy`), normalized here, once,
to its one spelling; `roles` is a short list of printable strings. Any other shape is a 401
naming the claim — never a 500 further down.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

from arcadia_cloud.tenancy import TENANT_ID_SHAPE, canonical_tenant_id

ROLE_PLATFORM_ADMIN = "platform_admin"
ROLE_LLM_GATEWAY = "llm_gateway"
PLATFORM_TENANT_ID = "platform-admin"
MAX_CLAIM_LENGTH = 200
MAX_ROLES = 50
MAX_ROLE_LENGTH = 100
# 9999-12-31T23:59:59Z: the last second a datetime can hold; beyond it a NumericDate is garbage.
MAX_NUMERIC_DATE = 253_402_300_799


class ArcadiaTokenBackend(TokenBackend):
    """simplejwt's backend, but accepting the algorithm list in ARCADIA_JWT_ALGORITHMS.

    PyJWT checks the algorithm (refusing `alg: none` and any algorithm outside the list) and the
    signature; the claims are checked afterwards by `validated_claims`, in one place, so each odd
    claim gets its own reason.
    """

    def decode(self, token: Token, verify: bool = True) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self.signing_key,
                algorithms=list(settings.ARCADIA_JWT_ALGORITHMS),
                options={"verify_signature": verify, **_CLAIMS_CHECKED_BY_US},
            )
        except jwt.InvalidAlgorithmError as exc:
            raise TokenBackendError("Token algorithm is not allowed") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenBackendError("Token signature is invalid") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is malformed") from exc


_CLAIMS_CHECKED_BY_US = {
    "require": [],
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


def token_backend() -> ArcadiaTokenBackend:
    return ArcadiaTokenBackend(settings.SIMPLE_JWT["ALGORITHM"], settings.ARCADIA_JWT_SECRET)


class ArcadiaAccessToken(Token):
    """An arcadia-app access token; no `jti` / `token_type`, arcadia-app does not send them."""

    token_type = "access"
    lifetime = dt.timedelta(hours=1)

    def get_token_backend(self) -> TokenBackend:
        return token_backend()

    def __init__(self, token: bytes | str, verify: bool = True) -> None:
        # Decoded here rather than in Token.__init__, which replaces every backend error with
        # a bare "Token is invalid"; callers deserve the actual reason.
        self.token = token
        self.current_time = aware_utcnow()
        try:
            self.payload = self.get_token_backend().decode(token, verify=verify)
        except TokenBackendError as exc:
            raise TokenError(str(exc.args[0])) from exc
        if verify:
            self.verify()

    def verify(self) -> None:
        self.payload = validated_claims(
            self.payload,
            now=self.current_time.timestamp(),
            leeway=settings.ARCADIA_JWT_LEEWAY_SECONDS,
        )


def validated_claims(payload: dict[str, Any], *, now: float, leeway: float) -> dict[str, Any]:
    """The payload with every claim this service reads type- and range-checked and `tenant_id`
    in its one spelling; a TokenError naming the claim otherwise."""
    exp = _numeric_date(payload, "exp", required=True)
    if exp <= now - leeway:
        raise TokenError("Token is expired")
    nbf = _numeric_date(payload, "nbf", required=False)
    if nbf is not None and nbf > now + leeway:
        raise TokenError("Token is not valid yet: its 'nbf' claim is in the future")
    iat = _numeric_date(payload, "iat", required=False)
    if iat is not None and iat > now + leeway:
        raise TokenError("Token claims to be issued in the future ('iat')")
    sub = payload.get("sub")
    if not isinstance(sub, str) or sub == "":
        raise TokenError("Token has no 'sub' claim (a non-empty string)")
    # isprintable() is False for NUL, other control characters and lone surrogates alike.
    if len(sub) > MAX_CLAIM_LENGTH or not sub.isprintable():
        raise TokenError(
            f"Token 'sub' claim must be printable text of at most {MAX_CLAIM_LENGTH} characters"
        )
    raw_tenant = payload.get("tenant_id")
    if not isinstance(raw_tenant, str) or not raw_tenant.strip():
        raise TokenError("Token has no 'tenant_id' claim (a UUID or slug string)")
    if len(raw_tenant) > MAX_CLAIM_LENGTH:
        raise TokenError("Token 'tenant_id' claim is too long")
    tenant_id = canonical_tenant_id(raw_tenant.strip())
    if tenant_id is None:
        raise TokenError(f"Token 'tenant_id' claim is not {TENANT_ID_SHAPE}")
    roles = payload.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise TokenError("Token 'roles' claim must be a list of strings")
    if len(roles) > MAX_ROLES or not all(
        0 < len(role) <= MAX_ROLE_LENGTH and role.isprintable() and role == role.strip()
        for role in roles
    ):
        raise TokenError(
            f"Token 'roles' claim must hold at most {MAX_ROLES} roles, each printable text of "
            f"1 to {MAX_ROLE_LENGTH} characters without surrounding spaces"
        )
    return {**payload, "tenant_id": tenant_id}


def _numeric_date(payload: dict[str, Any], claim: str, *, required: bool) -> float | None:
    if claim not in payload:
        if required:
            raise TokenError(f"Token has no '{claim}' claim")
        return None
    value = payload[claim]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_NUMERIC_DATE
    ):
        raise TokenError(
            f"Token '{claim}' claim must be a number of seconds since 1970-01-01 UTC, "
            f"from 0 to {MAX_NUMERIC_DATE} (the end of year 9999)"
        )
    return value


class Principal(TokenUser):
    """The caller behind a verified token: tenant, roles and what they imply."""

    is_authenticated = True
    is_anonymous = False

    @cached_property
    def id(self) -> str:
        return str(self.token["sub"])

    @cached_property
    def tenant_id(self) -> str:
        return self.token["tenant_id"]

    @cached_property
    def roles(self) -> frozenset[str]:
        return frozenset(self.token.get("roles") or ())

    @property
    def is_platform_admin(self) -> bool:
        return ROLE_PLATFORM_ADMIN in self.roles

    @property
    def is_llm_gateway(self) -> bool:
        return ROLE_LLM_GATEWAY in self.roles

    @property
    def is_gateway_only(self) -> bool:
        """An llm_gateway token may post LLM usage and nothing else."""
        return self.is_llm_gateway and not self.is_platform_admin

    @property
    def actor(self) -> str:
        """How this caller is named in audit rows."""
        return f"api:{self.id}@{self.tenant_id}"

    def __str__(self) -> str:
        return self.actor


class ArcadiaJWTAuthentication(JWTStatelessUserAuthentication):
    """Bearer JWT, verified without a database lookup."""

    www_authenticate_realm = "api"


def mint_token(
    *,
    tenant_id: str,
    roles: Iterable[str],
    sub: str | None = None,
    ttl_seconds: int = 3600,
    algorithm: str = "HS512",
    secret: str | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """Sign a token the way arcadia-app does (for `mint_token`, tests and the finance push)."""
    now = timezone.now()
    payload: dict[str, Any] = {
        "sub": sub or f"local:{tenant_id}",
        "tenant_id": tenant_id,
        "roles": list(roles),
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=ttl_seconds)).timestamp()),
    }
    payload.update(extra_claims or {})
    return jwt.encode(payload, secret or settings.ARCADIA_JWT_SECRET, algorithm=algorithm)
