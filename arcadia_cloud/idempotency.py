"""`Idempotency-Key` for write APIs (SPEC §15).

Same key + same request (method, path, body) from the same caller → the first response is
replayed; same key + a different request → 409; a key whose request is still running → 409;
keys expire after IDEMPOTENCY_KEY_TTL_HOURS. Server errors (5xx) are not recorded, so a retry
runs again. The rules below are argued in docs/decisions.md (Identity and tenancy).

- **The caller** is the verified identity the views see — tenant, subject and roles — hashed
  from a canonical JSON array (`caller_scope`), so no claim can make two callers share a scope,
  and a response is replayed only to the caller that caused it.
- **Route and method first.** A key is handled only for a request the URLconf routes to a view
  that declares its method (`serves`); an unknown route or an undeclared method gets its
  404 / 405 exactly as without the header, and nothing is recorded.
- **A key is owned by the request running it.** On PostgreSQL the request runs inside one
  transaction that holds the key's row lock (`SELECT … FOR UPDATE SKIP LOCKED`) and commits the
  view's writes together with the recorded response. A retry that finds the row locked answers
  409 (its owner is alive); one that gets the lock finds the completed response (replayed) or an
  in-progress key whose owner's transaction is gone — its writes rolled back with it — and runs
  the request itself. Without row locks (the SQLite quick start) a lease decides: the key
  belongs to its request for IDEMPOTENCY_LEASE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError

from arcadia_cloud.auth import ArcadiaJWTAuthentication
from arcadia_cloud.errors import api_route_not_found, error_body
from arcadia_cloud.locks import lock_idempotency_key_if_free

logger = logging.getLogger(__name__)

HEADER = "HTTP_IDEMPOTENCY_KEY"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255


def caller_scope(*, tenant_id: str, subject: str, roles: Iterable[str]) -> str:
    """sha256 of the canonical JSON `[tenant_id, subject, sorted roles]`: unambiguous whatever
    the claims contain (JSON quotes and escapes every character that could delimit)."""
    identity = json.dumps(
        [tenant_id, subject, sorted(set(roles))], ensure_ascii=True, separators=(",", ":")
    )
    return hashlib.sha256(identity.encode("ascii")).hexdigest()


def request_fingerprint(method: str, full_path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.encode())
    digest.update(b"\x1f")
    digest.update(full_path.encode())
    digest.update(b"\x1f")
    digest.update(body)
    return digest.hexdigest()


def serves(method: str, path: str, urlconf: str | None = None) -> bool:
    """Whether the URLconf routes `path` to a view that declares `method` (what Django / DRF
    would dispatch rather than answer 404 or 405). The API's catch-all serves nothing."""
    try:
        match = resolve(path, urlconf=urlconf)
    except Resolver404:
        return False
    view = match.func
    if view is api_route_not_found:  # the API's catch-all: the 404 of no route
        return False
    method = method.lower()
    actions = getattr(view, "actions", None)  # a DRF viewset route: {"get": "list", ...}
    if actions is not None:
        return method in actions
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if view_class is None:
        return True  # a plain function view: only it knows what it serves
    return method in view_class.http_method_names and hasattr(view_class, method)


def _request_scope(request: HttpRequest) -> str | None:
    """The caller's scope, from the same authentication the views run; None when there is no
    valid token (the view then answers 401 and nothing is recorded)."""
    try:
        authenticated = ArcadiaJWTAuthentication().authenticate(request)
    except (APIException, TokenError):
        return None
    if authenticated is None:
        return None
    principal, _token = authenticated
    return caller_scope(tenant_id=principal.tenant_id, subject=principal.id, roles=principal.roles)


def _conflict(message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, {"Idempotency-Key": [message]}), status=409)


def _in_progress() -> JsonResponse:
    return _conflict("a request with this key is still being processed", "idempotency_in_progress")


def _gone() -> JsonResponse:
    return _conflict("was used by a request that just expired; retry", "idempotency_retry")


def _reused() -> JsonResponse:
    return _conflict(
        "was already used with a different request; use a new key", "idempotency_key_reused"
    )


def _not_recorded(response: HttpResponse) -> bool:
    return response.status_code >= 500 or getattr(response, "streaming", False)


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
            or not serves(request.method, request.path_info, getattr(request, "urlconf", None))
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
        scope = _request_scope(request)
        if scope is None:
            return self.get_response(request)
        return self._handle(request, scope, key)

    def _handle(self, request: HttpRequest, scope: str, key: str) -> HttpResponse:
        from arcadia_cloud.models import IdempotencyKey

        fingerprint = request_fingerprint(request.method, request.get_full_path(), request.body)
        now = timezone.now()
        lease = dt.timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
        IdempotencyKey.objects.filter(scope=scope, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    scope=scope,
                    key=key,
                    request_fingerprint=fingerprint,
                    expires_at=now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                    lease_expires_at=now + lease,
                )
            created = True
        except IntegrityError:
            record = IdempotencyKey.objects.filter(scope=scope, key=key).first()
            if record is None:
                return _gone()
            if record.request_fingerprint != fingerprint:
                return _reused()
            if record.state == IdempotencyKey.State.COMPLETED:
                return self._replay(record)
            created = False
        if connection.features.has_select_for_update_skip_locked:
            return self._run_holding_the_row_lock(request, record, created=created)
        return self._run_on_a_lease(request, record, created=created, now=now, lease=lease)

    def _run_holding_the_row_lock(self, request, record, *, created: bool) -> HttpResponse:
        """Run the view in one transaction with the key's row locked: the lock lives exactly as
        long as this request's database session can still commit, and the view's writes commit
        with the recorded response or not at all."""
        from arcadia_cloud.models import IdempotencyKey

        with transaction.atomic():
            locked = lock_idempotency_key_if_free(record.pk)
            if locked is None:
                # Locked: its owner is running it. Gone: purged or forgotten after a 5xx.
                exists = IdempotencyKey.objects.filter(pk=record.pk).exists()
                return _in_progress() if exists else _gone()
            if locked.state == IdempotencyKey.State.COMPLETED:
                return self._replay(locked)  # the owner finished between our reads
            if not created:
                logger.warning(
                    "Idempotency-Key %r (record %s): its request is no longer running; "
                    "running the retry",
                    locked.key,
                    locked.pk,
                )
            view_writes = transaction.savepoint()
            response = self.get_response(request)
            if response.status_code >= 500:
                # Not recorded, so a retry runs again: it must not find this run's writes.
                transaction.savepoint_rollback(view_writes)
                locked.delete()
                return response
            transaction.savepoint_commit(view_writes)
            if _not_recorded(response):
                locked.delete()
                return response
            self._complete(IdempotencyKey.objects.filter(pk=locked.pk), response)
        return response

    def _run_on_a_lease(self, request, record, *, created: bool, now, lease) -> HttpResponse:
        """Without row locks: the request owns the key until its lease runs out; a retry takes
        over an in-progress key only after that."""
        from arcadia_cloud.models import IdempotencyKey

        lease_until = record.lease_expires_at
        if not created:
            lease_until = now + lease
            claimed = (
                IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS)
                .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
                .update(lease_expires_at=lease_until)
            )
            if not claimed:
                current = IdempotencyKey.objects.filter(pk=record.pk).first()
                if current is None:
                    return _gone()
                if current.state == IdempotencyKey.State.COMPLETED:
                    return self._replay(current)
                return _in_progress()
            logger.warning(
                "Idempotency-Key %r (record %s): its lease ran out; running the retry",
                record.key,
                record.pk,
            )
        response = self.get_response(request)
        mine = IdempotencyKey.objects.filter(
            pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, lease_expires_at=lease_until
        )
        if _not_recorded(response):
            mine.delete()
            return response
        self._complete(mine, response)
        return response

    @staticmethod
    def _complete(rows, response: HttpResponse) -> None:
        from arcadia_cloud.models import IdempotencyKey

        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        rows.update(
            state=IdempotencyKey.State.COMPLETED,
            response_status=response.status_code,
            response_body=bytes(response.content),
            response_content_type=response.get("Content-Type", ""),
        )

    @staticmethod
    def _replay(existing) -> HttpResponse:
        response = HttpResponse(
            bytes(existing.response_body or b""),
            status=existing.response_status,
            content_type=existing.response_content_type or "application/json",
        )
        response["Idempotent-Replayed"] = "true"
        return response
