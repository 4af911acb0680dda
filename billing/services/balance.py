"""The hourly balance snapshot: DigitalOcean's month-to-date spend, kept as a history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.models import CloudBalanceSnapshot
from integrations.digitalocean import DigitalOceanClient, DOBadPayload

BALANCE_FIELDS = ("month_to_date_balance", "account_balance", "month_to_date_usage")


@transaction.atomic(durable=True)
def balance_snapshot_fetch(*, client: DigitalOceanClient) -> CloudBalanceSnapshot:
    """Fetch `/v2/customers/my/balance` and store it as a new snapshot (rows are never
    updated: the series shows how the month's spend grew)."""
    payload = client.get_balance()
    amounts = {name: _usd(payload, name) for name in BALANCE_FIELDS}
    return CloudBalanceSnapshot.objects.create(
        **amounts,
        generated_at=_moment(payload.get("generated_at")),
        fetched_at=timezone.now(),
    )


def _usd(payload: dict[str, Any], name: str) -> Decimal:
    """DigitalOcean sends amounts as decimal strings ("23.44"); never go through float."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DOBadPayload(
            f"DigitalOcean balance: {name} is {value!r}, expected a decimal string like '23.44'"
        )
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise DOBadPayload(f"DigitalOcean balance: {name} {value!r} is not a number")
    return amount


def _moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
