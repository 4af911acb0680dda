"""Issue 18: DigitalOcean's price list synced into the effective-dated `provider_prices`, from
the emulator (which serves the endpoints as the OpenAPI description says)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import ProviderPrice
from catalog.provider_prices import FIXED_PRICES, read_price_list
from catalog.services import provider_prices_sync
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import run_emulator

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 3)


@pytest.fixture
def emulator():
    with run_emulator(period=dt.date(2026, 10, 1)) as running:
        yield running


def sync(emulator, today=DAY):
    client = DigitalOceanClient(emulator.base_url, emulator.token)
    read = read_price_list(client)
    return provider_prices_sync(listed=read.prices, today=today, skipped=read.skipped)


def test_the_price_list_is_read_from_every_endpoint_and_the_constants(emulator):
    result = sync(emulator)

    big = ProviderPrice.objects.get(size_slug="m-24vcpu-192gb")
    assert (big.provider_kind, big.unit, big.memory_mb, big.vcpus) == (
        "droplet",
        "hour",
        196608,
        24,
    )
    # /v2/sizes writes floats: read through their shortest repr, exact.
    assert (big.price_hourly, big.price_monthly) == (Decimal("1.5"), Decimal("1008"))
    assert big.source == "/v2/sizes" and big.effective_from == DAY and big.effective_to is None
    gpu = ProviderPrice.objects.get(size_slug="gpu-h100x1-80gb")
    assert gpu.price_hourly == Decimal("6.74")
    app = ProviderPrice.objects.get(size_slug="apps-s-1vcpu-1gb")
    # usd_per_second "0.00000496032" x 3600 = 0.017857152 USD an hour
    assert (app.provider_kind, app.price_monthly, app.memory_mb) == ("app", Decimal("12"), 1024)
    assert app.price_hourly == Decimal("0.017857152")
    db = ProviderPrice.objects.get(size_slug="db-s-1vcpu-1gb")
    assert (db.provider_kind, db.price_monthly) == ("database", Decimal("15"))
    volume = ProviderPrice.objects.get(provider_kind="volume")
    assert (volume.size_slug, volume.unit, volume.price_monthly) == ("", "gb_month", Decimal("0.1"))
    assert ProviderPrice.objects.filter(size_slug="").count() == len(FIXED_PRICES)
    assert result.opened == ProviderPrice.objects.count()
    assert (result.closed, result.unchanged) == (0, 0)


def test_a_resync_of_an_unchanged_list_writes_nothing(emulator):
    first = sync(emulator)
    before = list(ProviderPrice.objects.order_by("pk").values())

    with CaptureQueriesContext(connection) as queries:
        again = sync(emulator, today=DAY + dt.timedelta(days=1))

    assert (again.opened, again.closed, again.unchanged) == (0, 0, first.opened)
    assert list(ProviderPrice.objects.order_by("pk").values()) == before
    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []


def test_a_changed_price_closes_the_old_row_and_opens_a_new_one(emulator):
    sync(emulator)
    size = next(s for s in emulator.price_list["sizes"] if s["slug"] == "m-24vcpu-192gb")
    size["price_hourly"], size["price_monthly"] = 1.6, 1075.2
    later = DAY + dt.timedelta(days=5)

    result = sync(emulator, today=later)

    assert (result.opened, result.closed) == (1, 1)
    old, new = ProviderPrice.objects.filter(size_slug="m-24vcpu-192gb").order_by("effective_from")
    assert (old.price_hourly, old.effective_from, old.effective_to) == (Decimal("1.5"), DAY, later)
    assert (new.price_hourly, new.effective_from, new.effective_to) == (Decimal("1.6"), later, None)


def test_a_change_seen_twice_in_a_day_corrects_todays_row(emulator):
    sync(emulator)
    size = next(s for s in emulator.price_list["sizes"] if s["slug"] == "s-1vcpu-1gb")
    size["price_hourly"] = 0.009

    result = sync(emulator)

    (row,) = ProviderPrice.objects.filter(size_slug="s-1vcpu-1gb")
    assert (row.price_hourly, row.effective_from, row.effective_to) == (Decimal("0.009"), DAY, None)
    assert result.closed == 0


def test_a_size_with_no_valid_price_is_skipped_and_said(emulator):
    emulator.price_list["sizes"].append({"slug": "s-broken", "price_hourly": "n/a"})

    result = sync(emulator)

    assert not ProviderPrice.objects.filter(size_slug="s-broken").exists()
    assert any("s-broken" in reason for reason in result.skipped)


def test_the_command_and_the_task_sync_through_the_configured_client(emulator, settings):
    from io import StringIO

    from django.core.management import call_command

    from catalog.tasks import sync_provider_prices

    settings.DO_API_TOKEN = emulator.token
    settings.DO_API_BASE_URL = emulator.base_url
    out = StringIO()
    call_command("sync_provider_prices", stdout=out)
    assert "prices opened" in out.getvalue()
    opened = ProviderPrice.objects.count()

    result = sync_provider_prices.apply().get()

    assert (result["opened"], result["closed"], result["unchanged"]) == (0, 0, opened)
