"""Request text no layer below can read or store, refused before any view sees the request.

- The request's declared charset: Django decodes the query string and form bodies with whatever
  codec a Content-Type's `charset` names, and does so while building the request — a non-text
  codec (`charset=hex`, `zlib_codec`, `rot13`) with a query string crashed before any middleware
  ran. `TextSafeWSGIRequest` (served by `arcadia_cloud.wsgi`) adopts a declared charset only if
  this service reads it (`parsing.body_codec`: UTF-8, US-ASCII); anything else is decoded as
  UTF-8, and a body declared in it is refused by the middleware with a 415.
- A path holding a NUL character names nothing: 404 (PostgreSQL cannot even compare such text,
  so a `<str:...>` route parameter carrying one was a 500). A header holding one is malformed
  HTTP (RFC 9110 §5.5): 400 naming the header (an `Idempotency-Key` carrying one was a 500).
- On the HTML pages (the admin) a query parameter holding a NUL is dropped with an error
  message — the page is shown without its query — instead of reaching a list filter's SQL. The
  API refuses such parameters field by field (400 naming the parameter), like any bad value.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import parse_header_parameters

from arcadia_cloud.errors import api_not_found_response, error_body
from arcadia_cloud.parsing import body_codec, unsupported_charset_message
from arcadia_cloud.text import printable

NUL = "\x00"


class TextSafeWSGIRequest(WSGIRequest):
    """Django's WSGI request, but taking a declared charset as its encoding only when this
    service reads bodies in it; `content_params` keep the charset as sent, for the 415."""

    def _set_content_type_params(self, meta):
        self.content_type, self.content_params = parse_header_parameters(
            meta.get("CONTENT_TYPE", "")
        )
        charset = self.content_params.get("charset")
        if charset is not None and body_codec(charset) is not None:
            self.encoding = charset


class TextSafeWSGIHandler(WSGIHandler):
    request_class = TextSafeWSGIRequest


class RequestTextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path:
            if _is_api(request):  # the envelope, also with DEBUG on (no handler404 then)
                return api_not_found_response(request)
            raise Http404("A path with a NUL character names nothing here.")
        header = _header_with_nul(request)
        if header is not None:
            return _bad_header(request, header)
        charset = request.content_params.get("charset")
        if charset is not None and body_codec(charset) is None and _carries_body(request):
            return _unsupported_charset(request, charset)
        if not _is_api(request):
            refused = _parameter_with_nul(request)
            if refused is not None:
                return _drop_query(request, refused)
        return self.get_response(request)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _carries_body(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False  # Django reads no body for a Content-Length it cannot read either


def _unsupported_charset(request: HttpRequest, charset: str) -> HttpResponse:
    message = unsupported_charset_message(charset)
    if _is_api(request):
        return JsonResponse(error_body("unsupported_media_type", message), status=415)
    return HttpResponse(message, status=415, content_type="text/plain; charset=utf-8")


def _header_with_nul(request: HttpRequest) -> str | None:
    for name, value in request.headers.items():
        if NUL in value:
            return name
    return None


def _bad_header(request: HttpRequest, header: str) -> HttpResponse:
    message = "contains a NUL character (U+0000), which a header may not contain"
    if _is_api(request):
        return JsonResponse(
            error_body("validation_error", f"{header}: {message}", {header: [message]}),
            status=400,
        )
    return HttpResponse(f"{header}: {message}", status=400, content_type="text/plain")


def _parameter_with_nul(request: HttpRequest) -> str | None:
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def _drop_query(request: HttpRequest, parameter: str) -> HttpResponse:
    message = (
        f"Ignored the page's filters: {printable(parameter)} contains a NUL character "
        "(U+0000), which no filter can match."
    )
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    messages.error(request, message)
    return HttpResponseRedirect(request.path)
