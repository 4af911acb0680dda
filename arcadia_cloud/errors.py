"""One error vocabulary for services and one DRF exception handler for every API response.

Services raise `ApplicationError` subclasses, or `FieldError` (`arcadia_cloud.validation`,
`field_error`) for bad input naming one field; views never build error bodies by hand. Every
error leaves the API as `{"error": {"code", "message", "fields"}}` with the right status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken

from arcadia_cloud.text import printable
from arcadia_cloud.validation import FieldError

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business-rule failure a caller can act on."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = dict(fields or {})
        self.extra = dict(extra or {})


class ValidationFailed(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "validation_error"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class InvalidStateChange(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "invalid_state_change"


def field_error(field: str, message: str, *, code: str = "validation_error") -> FieldError:
    """A 400 naming one field: the common case for bad input (`arcadia_cloud.validation`'s
    `FieldError`, the error every field check raises)."""
    return FieldError(field, message, code=code)


# What a caller can act on: what admin actions and commands report instead of failing.
# `FieldError` is pure (the kernel raises it), so it is not an ApplicationError.
CALLER_ERRORS = (ApplicationError, FieldError)


def error_body(code: str, message: str, fields: Mapping[str, Any] | None = None, **extra: Any):
    body: dict[str, Any] = {"code": code, "message": message, "fields": dict(fields or {})}
    body.update(extra)
    return {"error": body}


def _flatten_messages(detail: Any) -> Any:
    """DRF error details (ErrorDetail, nested lists/dicts) as plain JSON values."""
    if isinstance(detail, Mapping):
        return {str(key): _flatten_messages(value) for key, value in detail.items()}
    if isinstance(detail, list | tuple):
        return [_flatten_messages(item) for item in detail]
    return str(detail)


def _summarise_fields(fields: Mapping[str, Any]) -> str:
    parts = []
    for name, messages in fields.items():
        first = messages
        while isinstance(first, list | tuple) and first:
            first = first[0]
        if isinstance(first, Mapping):
            first = "; ".join(f"{k}: {v}" for k, v in list(first.items())[:2])
        parts.append(f"{name}: {first}")
    return "; ".join(parts[:5]) or "Invalid input."


_DRF_CODES = {
    drf_exceptions.ParseError: "parse_error",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
}


def _drf_code(exc: drf_exceptions.APIException) -> str:
    for klass, code in _DRF_CODES.items():
        if isinstance(exc, klass):
            return code
    return getattr(exc, "default_code", "error")


def api_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """Turn every known exception into the error envelope; unknown ones stay 500s (bugs)."""
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status_code
        )
    if isinstance(exc, FieldError):
        return Response(
            error_body(exc.code, str(exc), exc.fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(
            error_body("validation_error", _summarise_fields(fields), fields),
            status=status.HTTP_400_BAD_REQUEST,
        )

    if isinstance(exc, InvalidToken | JWTAuthenticationFailed):
        detail = exc.detail if isinstance(exc.detail, Mapping) else {"detail": exc.detail}
        reasons = [
            str(m.get("message")) for m in detail.get("messages", []) if isinstance(m, Mapping)
        ]
        message = reasons[0] if reasons else str(detail.get("detail", "Token is invalid"))
        response = Response(
            error_body("invalid_token", f"Authentication failed: {message}."),
            status=status.HTTP_401_UNAUTHORIZED,
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        fields = _flatten_messages(
            detail if isinstance(detail, Mapping) else {"non_field_errors": detail}
        )
        return Response(
            error_body("validation_error", _summarise_fields(fields), fields),
            status=status.HTTP_400_BAD_REQUEST,
        )

    if isinstance(exc, drf_exceptions.APIException):
        message = _flatten_messages(exc.detail)
        if isinstance(message, Mapping):
            message = _summarise_fields(message)
        elif isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        response = Response(error_body(_drf_code(exc), str(message)), status=exc.status_code)
        auth_header = getattr(exc, "auth_header", None)
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = auth_header or 'Bearer realm="api"'
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response

    return None


def _json_error(request, status_code: int, code: str, message: str):
    return JsonResponse(error_body(code, message), status=status_code)


def api_not_found_response(request: HttpRequest) -> JsonResponse:
    """The 404 of a path under /api/ that names no route, naming the path — and the spelling
    that does name one, when the path differs from it only by a trailing slash."""
    message = f"No API route matches {printable(request.path)}."
    other = _other_spelling(request)
    if other is not None:
        message += f" (did you mean {printable(other)}?)"
    return _json_error(request, 404, "not_found", message)


@csrf_exempt
def api_route_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The API URLconf's last route (`^api/`): what no other route matches, for every method.

    Django's `handler404` is not used when DEBUG is on (the technical 404 page is shown
    instead), so the envelope is answered by a route. It serves nothing: the idempotency
    middleware (`serves`), the schema and the isolation matrix treat it as no route."""
    return api_not_found_response(request)


def _other_spelling(request: HttpRequest) -> str | None:
    path = request.path_info
    if path in ("", "/"):
        return None
    other = path[:-1] if path.endswith("/") else f"{path}/"
    try:
        match = resolve(other, urlconf=getattr(request, "urlconf", None))
    except Resolver404:
        return None
    if match.func is api_route_not_found:
        return None
    return request.path[: len(request.path) - len(path)] + other


def not_found_view(request, exception=None):
    """Django-level 404 (unknown URL): the envelope for API paths, the stock page elsewhere."""
    if request.path.startswith("/api/"):
        return api_not_found_response(request)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error_view(request):
    """A bug, never client input: logged by Django; API callers still get the envelope."""
    if request.path.startswith("/api/"):
        return _json_error(request, 500, "internal_error", "Internal error; it has been logged.")
    from django.views.defaults import server_error

    return server_error(request)


def bad_request_view(request, exception=None):
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return _json_error(
                request,
                413,
                "request_too_large",
                f"The request body is larger than the {limit} bytes this API accepts; send "
                "it in smaller requests (LLM usage: batches of at most 1000 events).",
            )
        return _json_error(request, 400, "bad_request", "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)
