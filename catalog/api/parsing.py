"""Request parsing that names every bad field by its path (`items[0].resource_kind`).

DRF reports nested errors as nested lists and dicts; a client fixing its request wants the
path of each bad value, the way the services name fields. Kept here until it moves next to the
shared error handler in `arcadia_cloud`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from arcadia_cloud.errors import ValidationFailed


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
