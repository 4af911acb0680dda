"""balance_snapshot_fetch and latest_balance against the emulator."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.selectors import latest_balance
from billing.services import balance_snapshot_fetch
from integrations.digitalocean import DOBadPayload

pytestmark = pytest.mark.django_db


def test_snapshot_stores_decimal_usd_and_do_generated_at(emulator_client):
    snapshot = balance_snapshot_fetch(client=emulator_client)
    assert snapshot.month_to_date_balance == Decimal("238.41")
    assert snapshot.account_balance == Decimal("0.00")
    assert snapshot.month_to_date_usage == Decimal("238.41")
    assert snapshot.generated_at == dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC)
    assert snapshot.fetched_at is not None


def test_latest_balance_is_the_newest_snapshot(emulator, emulator_client):
    assert latest_balance() is None
    balance_snapshot_fetch(client=emulator_client)
    emulator.balance["month_to_date_balance"] = "250.00"
    newest = balance_snapshot_fetch(client=emulator_client)
    assert latest_balance() == newest
    assert latest_balance().month_to_date_balance == Decimal("250.00")


def test_a_non_numeric_balance_is_a_bad_payload(emulator, emulator_client):
    emulator.balance["account_balance"] = "lots"
    with pytest.raises(DOBadPayload, match="account_balance"):
        balance_snapshot_fetch(client=emulator_client)
