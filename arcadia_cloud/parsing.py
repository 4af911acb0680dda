"""Request parsing shared by every API: exact numbers in, flat field paths out.

- `ExactJSONParser` (the API's only parser) reads JSON numbers with a fraction as `Decimal`
  from the digits sent, so no float ever enters a money or quantity path.
- `parse_input` validates with a serializer and names every bad value by its path
  (`items[0].resource_kind`), the way the services name fields.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from arcadia_cloud.errors import ValidationFailed
from arcadia_cloud.periods import parse_period


class ExactJSONParser(JSONParser):
    """JSON whose fractional numbers become Decimal, read from the digits as sent.

    A gateway sending a charge as the JSON number 0.1 must mean exactly 0.1, not
    0.1000000000000000055…; NaN and Infinity are refused as by DRF's own parser.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


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
