"""What an outside probe sent and must never again turn into a 500 (issue 14, items 1-5).

The classes: a body's declared charset, nesting depth, text that is not storable (lone
surrogates, NUL), integers beyond their column, and NUL in path parameters. Each is refused once,
centrally (`arcadia_cloud.parsing`, `arcadia_cloud.request_text`), with the error envelope; the
walks at the end hold every serializer, filter and route of the project to it.
"""

from __future__ import annotations

import bz2
import codecs
import io
import json
import tracemalloc
import zlib

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.exceptions import ParseError
from werkzeug.test import Client as WSGIClient

from arcadia_cloud.parsing import MAX_JSON_DEPTH, ExactJSONParser
from arcadia_cloud.validation import FieldError
from catalog.models import Addon, Plan, PlanVersion
from deployments.models import Deployment
from inventory.models import CloudResource
from tests.conftest import TENANT_A
from tests.reliability.fuzzing import in_process_app
from tests.reliability.world import resource

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/catalog/plans"
ADDONS = "/api/v1/catalog/addons"
PLAN = {"code": "probe", "name": "Probe plan"}


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert {"code", "message", "fields"} <= set(error)
    if code:
        assert error["code"] == code, error
    return error


def post_raw(client, path: str, body: bytes, content_type: str):
    return client.generic("POST", path, body, content_type=content_type)


# ---------------------------------------------------------------------------------------------
# 1. The declared charset
# ---------------------------------------------------------------------------------------------

PLAN_JSON = json.dumps(PLAN).encode()
HOSTILE_CHARSETS = {
    "zlib_codec": zlib.compress(PLAN_JSON),
    "bz2_codec": bz2.compress(PLAN_JSON),
    "base64_codec": codecs.encode(PLAN_JSON, "base64"),
    "hex": PLAN_JSON.hex().encode(),
    "uu_codec": codecs.encode(PLAN_JSON, "uu"),
    "rot13": PLAN_JSON,
    "utf-16": json.dumps(PLAN).encode("utf-16"),
    "latin-1": PLAN_JSON,
    "no-such-codec": PLAN_JSON,
}


@pytest.mark.parametrize("charset", list(HOSTILE_CHARSETS))
def test_a_body_in_a_charset_other_than_utf8_is_a_415(admin_api, charset):
    response = post_raw(
        admin_api, PLANS, HOSTILE_CHARSETS[charset], f"application/json; charset={charset}"
    )

    error = assert_envelope(response, 415, "unsupported_media_type")
    assert charset in error["message"] and "UTF-8" in error["message"]
    assert not Plan.objects.filter(code="probe").exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "us-ascii"])
def test_utf8_however_spelled_and_ascii_are_read(admin_api, charset):
    response = post_raw(admin_api, PLANS, PLAN_JSON, f"application/json; charset={charset}")
    assert response.status_code == 201, response.content


def test_a_compression_codec_never_inflates_the_body_in_memory(admin_api):
    """The probe's 2 GB worker: a body of a few KB declared zlib_codec, inflating to 64 MB."""
    bomb = zlib.compress(json.dumps({**PLAN, "description": "a" * (64 << 20)}).encode(), 9)
    assert len(bomb) < 100_000

    tracemalloc.start()
    try:
        response = post_raw(admin_api, PLANS, bomb, "application/json; charset=zlib_codec")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert_envelope(response, 415, "unsupported_media_type")
    assert peak < 16 << 20, f"the request peaked at {peak >> 20} MB"


def test_the_admin_refuses_a_form_body_in_a_non_text_charset(client):
    response = client.generic(
        "POST",
        "/admin/login/",
        b"username=a&password=b",
        content_type="application/x-www-form-urlencoded; charset=zlib_codec",
    )
    assert response.status_code == 415
    assert b"zlib_codec" in response.content


MULTIPART = (
    b'--B\r\nContent-Disposition: form-data; name="username"\r\n'
    b"Content-Type: text/plain; charset=zlib_codec\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"eJzLSMzJBQAGLAI1\r\n"
    b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
    b"Content-Type: text/plain; charset=bz2_codec\r\n\r\nxyz\r\n--B--\r\n"
)


def test_multipart_bodies_decode_their_fields_as_utf8_whatever_a_part_declares(client):
    """Django reads a part's text in the request's encoding, never the part's own charset."""
    plain = client.generic(
        "POST", "/admin/login/", MULTIPART, content_type="multipart/form-data; boundary=B"
    )
    declared = client.generic(
        "POST",
        "/admin/login/",
        MULTIPART,
        content_type="multipart/form-data; boundary=B; charset=zlib_codec",
    )
    assert (plain.status_code, declared.status_code) == (200, 415)


@pytest.mark.parametrize("charset", ["hex", "zlib_codec", "rot13", "utf-16", "no-such-codec"])
@pytest.mark.parametrize("path", ["/api/v1/deployments?page=1", "/admin/login/?next=/admin/"])
def test_a_charset_on_a_request_without_a_body_is_ignored(admin_api, charset, path):
    """Django decoded the query string with the declared codec while building the request: a
    500 before any middleware ran. Through the project's WSGI entry point, as gunicorn runs it."""
    headers = {
        "Content-Type": f"text/plain; charset={charset}",
        **{"Authorization": admin_api._credentials["HTTP_AUTHORIZATION"]},
    }
    response = WSGIClient(in_process_app()).get(path, headers=headers)
    assert response.status_code == 200, response.get_data()[:300]


# ---------------------------------------------------------------------------------------------
# 2. Nesting depth
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        '{"code": "x", "name": ' + "[" * 40 + "]" * 40 + "}",
        "[" * 100_000,
    ],
    ids=["1000-arrays", "1000-objects", "40-inside-a-field", "100000-unclosed"],
)
def test_a_body_nested_too_deep_is_a_400(admin_api, body):
    response = post_raw(admin_api, PLANS, body.encode(), "application/json")
    error = assert_envelope(response, 400, "parse_error")
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in error["message"]


def _parse(body: str):
    return ExactJSONParser().parse(io.BytesIO(body.encode()), "application/json")


def test_the_parser_reads_a_body_as_deep_as_the_limit_and_no_deeper():
    assert _parse("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(ParseError):
        _parse("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


# ---------------------------------------------------------------------------------------------
# 3. Text that is not text: lone surrogates, NUL
# ---------------------------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_key_is_a_400_naming_it(tenant_a_api):
    """It reached the error message's field name, which no encoder could write: a 500."""
    body = '{"plan_code": "starter", "projected_usage": {"\\ud800": 1}}'
    response = post_raw(tenant_a_api, "/api/v1/quote", body.encode(), "application/json")
    error = assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == ["projected_usage.\\ud800"]
    assert "lone surrogate (U+D800)" in error["message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ('{"size_slug": "s-1\\u0000"}', "spec.size_slug"),
        ('{"tags": ["web", "\\udfff"]}', "spec.tags[1]"),
        ('{"\\u0000": 1}', "spec.\\x00"),
    ],
)
def test_text_the_database_cannot_store_is_a_400_naming_where_it_is(admin_api, spec, field):
    target = resource("probe-drop", tenant_id=TENANT_A)
    body = f'{{"spec": {spec}}}'.encode()

    response = post_raw(
        admin_api, f"/api/v1/inventory/{target.pk}/provisioned", body, "application/json"
    )

    error = assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    assert not hasattr(CloudResource.objects.get(pk=target.pk), "provisioned")


def test_a_lone_surrogate_anywhere_in_a_batch_is_named_by_its_path():
    with pytest.raises(FieldError) as refused:
        _parse('{"events": [{"model": "ok"}, {"model": "a\\ud83d"}]}')
    assert list(refused.value.fields) == ["events[1].model"]


def test_a_surrogate_pair_is_one_character_and_welcome():
    assert _parse('{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


# ---------------------------------------------------------------------------------------------
# 5. Integers beyond their column; NUL in path parameters
# ---------------------------------------------------------------------------------------------

INT4_MAX = 2**31 - 1
ADDON = {
    "code": "probe",
    "name": "Probe",
    "resource_kind": "spaces_gb_month",
    "qty": "1",
    "currency": "AUD",
}


@pytest.mark.parametrize("cents", [INT4_MAX + 1, 2**63, 10**30])
def test_a_price_beyond_its_column_is_a_400_naming_it(admin_api, cents):
    response = admin_api.post(ADDONS, {**ADDON, "price_cents": cents}, format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == ["price_cents"]
    assert not Addon.objects.filter(code="probe").exists()


def test_the_largest_price_the_column_holds_is_accepted(admin_api):
    response = admin_api.post(ADDONS, {**ADDON, "price_cents": INT4_MAX}, format="json")
    assert response.status_code == 201, response.content
    assert Addon.objects.get(code="probe").price_cents == INT4_MAX


def test_version_prices_beyond_their_columns_name_each_field(admin_api):
    Plan.objects.create(code="probe", name="Probe")
    body = {
        "base_price_cents": INT4_MAX + 1,
        "currency": "AUD",
        "items": [
            {
                "resource_kind": "droplet_hours",
                "included_qty": "1",
                "overage_price_cents": INT4_MAX + 1,
            }
        ],
    }
    response = admin_api.post(f"{PLANS}/probe/versions", body, format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert set(error["fields"]) == {"base_price_cents", "items[0].overage_price_cents"}
    assert not PlanVersion.objects.filter(plan__code="probe").exists()


@pytest.mark.parametrize("value", ["1e30", "99999999999999999999", "1.5", "0"])
@pytest.mark.parametrize("parameter", ["project", "deployment"])
def test_an_id_filter_takes_only_ids_its_column_can_hold(admin_api, parameter, value):
    error = assert_envelope(admin_api.get("/api/v1/inventory", {parameter: value}), 400)
    assert parameter in error["fields"]


def _routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def test_a_nul_in_any_path_parameter_is_a_404(admin_api):
    routes = [route for route in _routes() if route.startswith("api/") and "<" in route]
    assert "api/v1/billing/invoices/<str:invoice_uuid>" in routes  # the probe's 500
    for route in routes:
        path = "/" + "".join(
            "%00" if part.startswith("<") else part for part in _split_parameters(route)
        )
        response = admin_api.get(path)
        assert_envelope(response, 404, "not_found")


def _split_parameters(route: str) -> list[str]:
    parts, rest = [], route
    while "<" in rest:
        before, _, after = rest.partition("<")
        name, _, rest = after.partition(">")
        parts += [before, f"<{name}>"]
    return [*parts, rest]


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Anything"])
def test_a_nul_in_a_header_is_a_400_naming_it(tenant_a_api, header):
    response = tenant_a_api.post(
        "/api/v1/deployments",
        {"slug": "shop", "display_name": "Shop"},
        format="json",
        headers={header: "key\x00"},
    )
    error = assert_envelope(response, 400, "validation_error")
    assert list(error["fields"]) == [header]
    assert not Deployment.objects.exists()


def test_the_admin_drops_a_nul_in_a_path_too(admin_client):
    assert admin_client.get("/admin/billing/cloudinvoice/%00/change/").status_code == 404


# The walks: every integer the API takes — in a body or a parameter, as the schema documents it —
# is bounded, so a field added tomorrow cannot reintroduce "integer out of range".

INT64 = (-(2**63), 2**63 - 1)
# The page number: the paginator reads any integer and answers a page past the end with a 404.
# Path ids (`<int:...>`) need no bound either: an id no column can hold finds nothing, a 404
# (`test_a_nul_or_an_impossible_id_in_any_path_parameter_is_a_404`).
UNBOUNDED_ON_PURPOSE = {"page"}


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _integers(schema: dict, node: dict, path: str, seen: frozenset = frozenset()):
    ref = node.get("$ref")
    if ref in seen:
        return
    node = _resolve(schema, node)
    seen = seen | {ref}
    if node.get("type") == "integer":
        yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _integers(schema, child, f"{path}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _integers(schema, node[key], f"{path}[]", seen)
    for key in ("allOf", "oneOf", "anyOf"):
        for child in node.get(key, []):
            yield from _integers(schema, child, path, seen)


def test_every_integer_the_api_takes_is_bounded_by_what_its_column_holds(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    taken, unbounded = [], []
    for route, item in schema["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {route}"
            sources = [
                (f"{label} ?{p['name']}", p["schema"])
                for p in operation.get("parameters", [])
                if p["name"] not in UNBOUNDED_ON_PURPOSE and p["in"] != "path"
            ]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                sources.append((f"{label} body", content["schema"]))
            for where, node in sources:
                for path, integer in _integers(schema, node, where):
                    taken.append(path)
                    low, high = integer.get("minimum"), integer.get("maximum")
                    if low is None or high is None or low < INT64[0] or high > INT64[1]:
                        unbounded.append(f"{path}: {low}..{high}")
    assert len(taken) > 10, f"the walk found too few integer inputs to mean anything: {taken}"
    assert not unbounded, "\n".join(unbounded)
