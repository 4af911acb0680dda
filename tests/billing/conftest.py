"""Billing fixtures: the DigitalOcean emulator after the April 2026 invoice is issued."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, run_emulator
from tests.billing.factories import PERIOD

# The April invoice is issued at 00:00 UTC on 1 May; the emulator lists it from then on.
AFTER_PERIOD = dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC)


@pytest.fixture
def emulator():
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=AFTER_PERIOD)) as running:
        yield running


@pytest.fixture
def emulator_client(emulator) -> DigitalOceanClient:
    return DigitalOceanClient(emulator.base_url, emulator.token, sleep=lambda seconds: None)


@pytest.fixture
def billing_token(settings, emulator):
    """Point the tasks' `client_for("billing")` at the emulator; no finance service."""
    settings.DO_API_BASE_URL = emulator.base_url
    settings.DO_TOKEN_BILLING = emulator.token
    settings.FINANCE_URL = ""
    return emulator
