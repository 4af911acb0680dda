"""`Idempotency-Key` for write APIs (SPEC §15).

Same key + same request (method, path, body) from the same caller → the first response is
replayed; same key + a different request → 409; a key still being processed → 409; keys expire
after IDEMPOTENCY_KEY_TTL_HOURS. Server errors (5xx) are not recorded, so a retry runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError

from arcadia_cloud.auth import ArcadiaAccessToken
from arcadia_cloud.errors import error_body

logger = logging.getLogger(__name__)

HEADER = "HTTP_IDEMPOTENCY_KEY"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255


def _caller_scope(request: HttpRequest) -> str | None:
    """sha256 of the verified caller identity, or None when the token is not valid."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if len(parts) != 2 or parts[0] != "Bearer":
        return None
    try:
        token = ArcadiaAccessToken(parts[1].encode())
    except TokenError:
        return None
    identity = f"{token['tenant_id']}\x1f{token['sub']}"
    return hashlib.sha256(identity.encode()).hexdigest()


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\x1f")
    digest.update(request.get_full_path().encode())
    digest.update(b"\x1f")
    digest.update(request.body)
    return digest.hexdigest()


def _conflict(message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, {"Idempotency-Key": [message]}), status=409)


def purge_expired_keys(now: dt.datetime | None = None) -> int:
    from arcadia_cloud.models import IdempotencyKey

    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER)
        if (
            key is None
            or request.method not in WRITE_METHODS
            or not request.path.startswith("/api/")
        ):
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            message = f"must be 1 to {MAX_KEY_LENGTH} characters"
            return JsonResponse(
                error_body(
                    "validation_error",
                    f"Idempotency-Key: {message}",
                    {"Idempotency-Key": [message]},
                ),
                status=400,
            )
        scope = _caller_scope(request)
        if scope is None:
            # Not authenticated: the view answers 401 and nothing is recorded.
            return self.get_response(request)
        return self._handle(request, scope, key)

    def _handle(self, request: HttpRequest, scope: str, key: str) -> HttpResponse:
        from arcadia_cloud.models import IdempotencyKey

        fingerprint = _fingerprint(request)
        now = timezone.now()
        IdempotencyKey.objects.filter(scope=scope, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    scope=scope,
                    key=key,
                    request_fingerprint=fingerprint,
                    expires_at=now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
            if existing is None:
                return _conflict(
                    "was used by a request that just expired; retry", "idempotency_retry"
                )
            return self._replay(existing, fingerprint)

        try:
            response = self.get_response(request)
        except Exception:
            record.delete()
            raise
        if response.status_code >= 500 or getattr(response, "streaming", False):
            record.delete()
            return response
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        record.state = IdempotencyKey.State.COMPLETED
        record.response_status = response.status_code
        record.response_body = bytes(response.content)
        record.response_content_type = response.get("Content-Type", "")
        record.save(
            update_fields=["state", "response_status", "response_body", "response_content_type"]
        )
        return response

    @staticmethod
    def _replay(existing, fingerprint: str) -> HttpResponse:
        if existing.request_fingerprint != fingerprint:
            return _conflict(
                "was already used with a different request; use a new key", "idempotency_key_reused"
            )
        if existing.state != existing.State.COMPLETED:
            return _conflict(
                "a request with this key is still being processed", "idempotency_in_progress"
            )
        response = HttpResponse(
            bytes(existing.response_body or b""),
            status=existing.response_status,
            content_type=existing.response_content_type or "application/json",
        )
        response["Idempotent-Replayed"] = "true"
        return response
