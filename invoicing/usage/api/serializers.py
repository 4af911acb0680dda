"""Input and output of the LLM usage endpoint (SPEC §12)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from arcadia_cloud.errors import ValidationFailed
from arcadia_cloud.money import CHARGE_DECIMAL_PLACES
from invoicing.usage.llm_usage import (
    MAX_BATCH_SIZE,
    EventStatus,
    LLMUsageEventInput,
    fields_invalid,
)

MAX_BIGINT = 2**63 - 1
# One request's tokens; generous (10^12) yet far from overflowing a usage record.
MAX_TOKENS_PER_EVENT = 10**12
# A gateway clock may run a little ahead; an event from further in the future is a bug upstream.
FUTURE_TOLERANCE = dt.timedelta(hours=1)


class LLMUsageEventSerializer(serializers.Serializer):
    gateway_request_id = serializers.CharField(
        max_length=200, help_text="The gateway's id of the request; names it forever."
    )
    deployment_id = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT)
    tenant_id = serializers.CharField(max_length=200, help_text="The deployment's tenant.")
    model = serializers.CharField(max_length=200)
    input_tokens = serializers.IntegerField(min_value=0, max_value=MAX_TOKENS_PER_EVENT)
    output_tokens = serializers.IntegerField(min_value=0, max_value=MAX_TOKENS_PER_EVENT)
    charge = serializers.DecimalField(
        max_digits=20,
        decimal_places=CHARGE_DECIMAL_PLACES,
        min_value=Decimal(0),
        help_text="The gateway's price of the request, at most 8 decimal places: a decimal "
        "string, or a JSON number (read exactly from its digits, never as a float).",
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        help_text="ISO 4217 code, e.g. AUD.",
        error_messages={"invalid": "must be an ISO 4217 code in capitals, such as AUD"},
    )
    occurred_at = serializers.DateTimeField(
        help_text="When the request was served (ISO 8601; without a zone it is read as UTC)."
    )


class LLMUsageBatchSerializer(serializers.Serializer):
    events = LLMUsageEventSerializer(many=True, max_length=MAX_BATCH_SIZE, allow_empty=False)


class LLMUsageEventResultSerializer(serializers.Serializer):
    gateway_request_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[status.value for status in EventStatus])


class LLMUsageResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events recorded by this request.")
    duplicates = serializers.IntegerField(help_text="Events already recorded, same payload.")
    events = LLMUsageEventResultSerializer(many=True, help_text="Each event, in request order.")


def parse_llm_usage(data: object) -> list[LLMUsageEventInput]:
    """One event object, or `{"events": [...]}` of 1 to MAX_BATCH_SIZE, as typed inputs.

    Every item is validated before anything is refused, so one 400 names every bad field:
    `charge` for a single event, `events[1].charge` in a batch.
    """
    if not isinstance(data, Mapping):
        raise _failed({"body": ['send one event object, or {"events": [event, ...]}']})
    if "events" not in data:
        return [_parse_event(data, ref="")]
    items = data["events"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_SIZE:
        raise _failed({"events": [f"must be a list of 1 to {MAX_BATCH_SIZE} events"]})
    errors: dict[str, list[str]] = {}
    events: list[LLMUsageEventInput] = []
    for index, item in enumerate(items):
        try:
            events.append(_parse_event(item, ref=f"events[{index}]"))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise _failed(errors)
    return events


_EVENT_VALIDATOR = LLMUsageEventSerializer()


def _parse_event(item: object, *, ref: str) -> LLMUsageEventInput:
    try:
        values = _EVENT_VALIDATOR.run_validation(item)
    except serializers.ValidationError as exc:
        raise _failed(_named(exc.detail, ref)) from None
    if values["occurred_at"] > timezone.now() + FUTURE_TOLERANCE:
        raise _failed(
            {_join(ref, "occurred_at"): ["is more than an hour ahead of the server clock"]}
        )
    return LLMUsageEventInput(ref=ref, **values)


def _named(detail: Any, ref: str) -> dict[str, list[str]]:
    """DRF error detail as {"events[1].charge": [messages]} (an item-level error names the item)."""
    if not isinstance(detail, Mapping):
        return {ref or "body": [str(message) for message in detail]}
    named: dict[str, list[str]] = {}
    for name, messages in detail.items():
        key = ref or "body" if name == api_settings.NON_FIELD_ERRORS_KEY else _join(ref, name)
        named[key] = [str(message) for message in messages]
    return named


def _join(ref: str, name: str) -> str:
    return f"{ref}.{name}" if ref else name


def _failed(fields: dict[str, list[str]]) -> ValidationFailed:
    return fields_invalid(fields)
