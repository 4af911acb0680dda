"""The API's orjson renderer writes what DRF's JSONRenderer wrote: byte for byte for every kind
of value the API's bodies hold, and the same JSON value for any body."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from django.utils.functional import lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from arcadia_cloud.renderers import OrjsonRenderer
from invoicing.models import InvoiceStatus

lazy_text = lazy(lambda: "lazily translated", str)

BODY = {
    "amount": Decimal("12.345000"),
    "count": 3,
    "big": 2**53 + 1,
    "negative": -7,
    "flag": True,
    "none": None,
    "text": 'Ünïcode ✓ — "quoted" \\ back\nslash',
    "created_at": dt.datetime(2026, 4, 1, 12, 30, 5, 123456, tzinfo=dt.UTC),
    "whole_second": dt.datetime(2026, 4, 1, 12, 30, 5, tzinfo=dt.UTC),
    "sydney": dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=10))),
    "day": dt.date(2026, 4, 30),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "status": InvoiceStatus.ISSUED,
    "lazy": lazy_text(),
    "rows": [{"a": 1}, {"b": [1, 2, {"c": "d"}]}],
    "tuple": (1, "two"),
    "error": {"code": "validation_error", "message": "m", "fields": {"x": ["bad"]}},
}


def test_the_api_renders_with_orjson(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == [
        "arcadia_cloud.renderers.OrjsonRenderer"
    ]


def test_every_kind_of_value_renders_as_drf_renders_it():
    assert OrjsonRenderer().render(BODY) == JSONRenderer().render(BODY)


def test_an_empty_body_renders_as_nothing():
    assert OrjsonRenderer().render(None) == JSONRenderer().render(None) == b""


def test_an_indent_asked_for_in_the_accept_header_is_honoured():
    rendered = OrjsonRenderer().render({"a": [1]}, "application/json; indent=4", {})
    assert rendered == b'{\n  "a": [\n    1\n  ]\n}'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_body_of_the_apis_value_kinds_reads_back_as_drfs_rendering_does(value):
    """The same JSON value; a raw Decimal (which the serializers never hand over: they write
    amounts as strings) becomes a float in both, spelt by each library's shortest form
    (`0.00009999` / `9.999e-05`), so the comparison is of what a client reads."""
    body = {"value": value}  # a body, never None (rendered as no body at all)
    assert json.loads(OrjsonRenderer().render(body)) == json.loads(JSONRenderer().render(body))
