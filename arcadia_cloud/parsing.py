"""Request parsing shared by every API: exact numbers in, flat field paths out.

- `ExactJSONParser` (the API's only parser) reads JSON numbers with a fraction as `Decimal`
  from the digits sent, so no float ever enters a money or quantity path. It reads only the
  charsets JSON is exchanged in (`body_codec`: UTF-8, or US-ASCII, its subset), refuses bodies
  nested deeper than `MAX_JSON_DEPTH` and any string or key that is not storable text
  (`arcadia_cloud.text`), naming where it is.
- `parse_input` validates with a serializer and names every bad value by its path
  (`items[0].resource_kind`), the way the services name fields.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model
from django.utils.http import parse_header_parameters
from django_filters import rest_framework as filters
from rest_framework import serializers
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from arcadia_cloud.errors import ValidationFailed, field_error
from arcadia_cloud.periods import parse_period
from arcadia_cloud.text import printable, text_problem

# Codec names as `codecs.lookup` spells them. RFC 8259 §8.1: JSON exchanged between systems is
# UTF-8. Any other codec Python knows would be run on the body as sent — compression codecs
# (zlib_codec, bz2_codec) inflate a few hundred bytes into gigabytes past the size limit, others
# return bytes or fail — so nothing else is read. UTF-8 never decodes to more characters than it
# has bytes, so DATA_UPLOAD_MAX_MEMORY_SIZE bounds the decoded text as well.
BODY_CODECS = frozenset({"utf-8", "ascii"})
DEFAULT_CODEC = "utf-8"
# Deeper than any request this API takes (an LLM batch is 3 levels, a drift spec 4); a parser
# or serializer walking a 1,000-level body runs out of stack.
MAX_JSON_DEPTH = 32


def body_codec(charset: str | None) -> str | None:
    """The codec to read a body declared in `charset` (UTF-8 when none is declared), or None
    when this service does not read bodies in that charset."""
    if charset is None:
        return DEFAULT_CODEC
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):
        return None
    return name if name in BODY_CODECS else None


def unsupported_charset_message(charset: str) -> str:
    return (
        f"charset {printable(charset)!r} is not accepted: send the body as UTF-8 "
        "(charset=utf-8, or no charset)"
    )


class ExactJSONParser(JSONParser):
    """JSON whose fractional numbers become Decimal, read from the digits as sent.

    A gateway sending a charge as the JSON number 0.1 must mean exactly 0.1, not
    0.1000000000000000055…; NaN and Infinity are refused as by DRF's own parser. The charset is
    read from the Content-Type itself (Django drops a charset it does not know, which would
    quietly read the body as UTF-8 instead of refusing it).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        _, params = parse_header_parameters(media_type or "")
        charset = params.get("charset")
        codec = body_codec(charset)
        if codec is None:
            raise UnsupportedMediaType(media_type, detail=unsupported_charset_message(charset))
        try:
            text = stream.read().decode(codec)
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"JSON parse error - the body is not valid {codec}: {exc.reason} at byte "
                f"{exc.start}"
            ) from exc
        try:
            data = json.loads(text, parse_float=Decimal)
        except RecursionError as exc:
            raise _too_deep("") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        check_json_text(data)
        return data


def check_json_text(data: Any) -> None:
    """Refuse a parsed body nested deeper than MAX_JSON_DEPTH, or holding a string or key that
    is not storable text, naming the path to it (`events[2].model`). Iterative: the depth it
    guards against would overflow a recursive walk."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise field_error(path or "body", problem)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(path)
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                child = _join(path, printable(key))
                problem = text_problem(key)
                if problem:
                    raise field_error(child, f"the name {problem}")
                children.append((item, child, depth + 1))
        else:
            children = [(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
        pending.extend(reversed(children))


def _too_deep(path: str) -> ParseError:
    where = f" at {path}" if path else ""
    return ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels{where}")


def parse_input(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict:
    """Validated data, or a 400 whose `fields` are flat paths to each bad value."""
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return serializer.validated_data
    fields: dict[str, list[str]] = {}
    _flatten("", serializer.errors, fields)
    message = "; ".join(f"{name}: {messages[0]}" for name, messages in list(fields.items())[:5])
    raise ValidationFailed(message or "Invalid input.", fields=fields)


def _flatten(prefix: str, detail: Any, out: dict[str, list[str]]) -> None:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            _flatten(_join(prefix, key), value, out)
    elif isinstance(detail, list | tuple) and any(
        isinstance(item, Mapping | list | tuple) for item in detail
    ):
        for index, item in enumerate(detail):
            if item:
                _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(detail, list | tuple):
        out[prefix or "non_field_errors"] = [str(item) for item in detail]
    else:
        out[prefix or "non_field_errors"] = [str(detail)]


def _join(prefix: str, key: Any) -> str:
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


class PeriodField(serializers.CharField):
    """A billing period in a request: `YYYY-MM` or `YYYY-MM-01`, as the month's first day."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return parse_period(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


# Integers bounded by the columns they land in. PostgreSQL answers a value its column cannot hold
# ("integer out of range") with an error, which was a 500; every integer input that reaches a
# column (money in cents, quantities, ids) takes its bounds from that column instead.


def column_range(model: type[Model], name: str) -> tuple[int, int]:
    """The integers column `name` of `model` can hold (int4, int8, their positive forms...)."""
    field = model._meta.get_field(name)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]


def column_integer_field(
    model: type[Model], name: str, *, min_value: int | None = None, **kwargs: Any
) -> serializers.IntegerField:
    """An integer input within what `model.name` holds (and at least `min_value`, if given)."""
    low, high = column_range(model, name)
    return serializers.IntegerField(
        min_value=low if min_value is None else max(min_value, low), max_value=high, **kwargs
    )


def object_id_field(model: type[Model], **kwargs: Any) -> serializers.IntegerField:
    """An id of a `model` row: from 1 to what its primary key column holds."""
    return column_integer_field(model, model._meta.pk.name, min_value=1, **kwargs)


class ObjectIdFilter(filters.NumberFilter):
    """A query filter on the id of a `model` row: a whole number its key column can hold,
    otherwise a 400 naming the parameter (NumberFilter reads any decimal, 1e30 included)."""

    field_class = forms.IntegerField

    def __init__(self, *, model: type[Model], **kwargs: Any) -> None:
        _, high = column_range(model, model._meta.pk.name)
        super().__init__(min_value=1, max_value=high, **kwargs)
