"""API identity: stateless JWT verification of tokens issued by arcadia-app.

This service never looks a caller up in a user table. A token is valid when it is signed with
`ARCADIA_JWT_SECRET` using HS512 (or HS256), carries `exp`, and names `sub`, `tenant_id`
(a UUID or a slug such as `platform-admin`) and `roles` (a list of strings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import (
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

ROLE_PLATFORM_ADMIN = "platform_admin"
ROLE_LLM_GATEWAY = "llm_gateway"
PLATFORM_TENANT_ID = "platform-admin"
MAX_CLAIM_LENGTH = 200


class ArcadiaTokenBackend(TokenBackend):
    """simplejwt's backend, but accepting the algorithm list in ARCADIA_JWT_ALGORITHMS.

    PyJWT rejects `alg: none` and any algorithm outside the list before the signature check.
    """

    def decode(self, token: Token, verify: bool = True) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self.signing_key,
                algorithms=list(settings.ARCADIA_JWT_ALGORITHMS),
                leeway=self.get_leeway(),
                options={"verify_signature": verify, "require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenBackendError(f"Token has no '{exc.claim}' claim") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise TokenBackendError("Token algorithm is not allowed") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenBackendError("Token signature is invalid") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is malformed") from exc


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
        except TokenBackendExpiredToken as exc:
            raise TokenError("Token is expired") from exc
        except TokenBackendError as exc:
            raise TokenError(str(exc.args[0])) from exc
        if verify:
            self.verify()

    def verify(self) -> None:
        self.check_exp()
        sub = self.payload.get("sub")
        if not isinstance(sub, str | int) or str(sub) == "":
            raise TokenError("Token has no 'sub' claim")
        tenant_id = self.payload.get("tenant_id")
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise TokenError("Token has no 'tenant_id' claim (a UUID or slug string)")
        if len(tenant_id) > MAX_CLAIM_LENGTH:
            raise TokenError("Token 'tenant_id' claim is too long")
        roles = self.payload.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise TokenError("Token 'roles' claim must be a list of strings")


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
