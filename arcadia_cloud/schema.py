"""OpenAPI: the bearer-JWT scheme, and the error responses every operation can give.

The error responses come from machinery shared by every view (authentication, the role
permissions, tenant scoping, request parsing, the Idempotency-Key middleware), so they are
documented here once, by rule, rather than repeated on each view: an operation lists the
statuses that machinery can answer it with, each with the one error envelope
`{"error": {"code", "message", "fields"}}`. Views still declare what only they can answer
(a 409 for an invoice already issued, a 422 for a transition off the map).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_COMPONENT = "ErrorEnvelope"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
HTTP_METHODS = frozenset({"get", "head", "options", "trace", *WRITE_METHODS})
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Repeat a write safely: the same key with the same request replays the "
    "first response for 24 hours; with a different request it is a 409.",
}
ERROR_DESCRIPTIONS = {
    400: "Invalid input: `error.fields` names each bad field, query parameter or header (a "
    "value out of range, text holding NUL or a lone surrogate); a body that is not JSON or is "
    "nested deeper than 32 levels is a `parse_error`.",
    401: "No token, or a bad one (expired, not valid yet, bad signature, a claim missing or not "
    "of its type and range, a tenant_id that is neither a UUID nor a slug): the message says "
    "which.",
    403: "The token's role may not call this endpoint.",
    404: "No such object, or another tenant's (never a 403: existence does not leak); for a "
    "list, a page past the last one.",
    409: "Conflict: an Idempotency-Key reused for another request, or still in progress.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON, or is declared in a charset other than UTF-8.",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable reason."},
                "message": {"type": "string", "description": "What is wrong, for a person."},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Messages by field path (`events[1].charge`), if any.",
                },
            },
            "additionalProperties": True,
        }
    },
}


class ArcadiaJWTScheme(OpenApiAuthenticationExtension):
    target_class = "arcadia_cloud.auth.ArcadiaJWTAuthentication"
    name = "bearerJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "HS512/HS256 JWT from arcadia-app with sub, tenant_id, roles and exp. "
            "Locally: `manage.py mint_token --tenant T --role R`.",
        }


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: shared error responses and the Idempotency-Key
    header on every operation, by what the shared machinery can answer it with."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    envelope = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in _shared_error_statuses(method, operation):
                responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "content" not in response:
                    response["content"] = envelope
            if method in WRITE_METHODS:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == IDEMPOTENCY_KEY["name"] for p in parameters):
                    parameters.append(IDEMPOTENCY_KEY)
    return result


def _shared_error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    statuses = []
    parameters = operation.get("parameters", [])
    if any(requirement for requirement in operation.get("security", [])):
        statuses += [401, 403]  # no / bad token; a role (or a gateway-only token) refused
    if parameters or "requestBody" in operation or method in WRITE_METHODS:
        statuses.append(400)  # bad parameter, body or Idempotency-Key
    if any(p.get("in") == "path" or p.get("name") == "page" for p in parameters):
        statuses.append(404)  # no such object; a page number past the last page
    if method in WRITE_METHODS:
        statuses.append(409)  # Idempotency-Key reused or in progress
    if "requestBody" in operation or method in WRITE_METHODS:
        # A write may carry a body even where it takes none: its size (the Idempotency-Key
        # fingerprint reads it) and its charset are refused before the view runs.
        statuses += [413, 415]
    return statuses
