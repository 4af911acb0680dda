"""DigitalOcean's rate limits: the budget per token, the emulator enforcing them, and a sync
deferring instead of failing when the budget is spent."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.digitalocean import DigitalOceanClient, DOBudgetExhausted, RateBudget
from integrations.digitalocean.ratelimit import MemoryStore
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory.models import CloudResource
from inventory.sync import sync_all, sync_target

AFTER = dt.datetime(2026, 5, 15, 12, tzinfo=dt.UTC)
PERIOD = dt.date(2026, 4, 1)


class FakeTime:
    """One clock for the budget, the client's sleeps and the emulator's limits."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(clock: FakeTime, per_minute: int, per_hour: int, **kwargs) -> RateBudget:
    return RateBudget(
        "a-token",
        store=MemoryStore(),
        per_minute=per_minute,
        per_hour=per_hour,
        clock=clock.time,
        **kwargs,
    )


def test_a_full_minute_is_waited_out_and_a_full_hour_defers():
    clock = FakeTime()
    spend = budget(clock, per_minute=3, per_hour=5)
    for _ in range(3):
        spend.spend(clock.sleep)
    assert clock.slept == []

    spend.spend(clock.sleep)  # the 4th waits for the 1st to leave the minute
    assert clock.slept == [pytest.approx(60)]
    spend.spend(clock.sleep)
    with pytest.raises(DOBudgetExhausted) as excinfo:  # 5 in the hour: ~an hour to wait
        spend.spend(clock.sleep)
    assert excinfo.value.wait > 3000


def test_what_digitalocean_says_about_the_budget_counts():
    clock = FakeTime()
    spend = budget(clock, per_minute=250, per_hour=5000)
    spend.observe({"ratelimit-remaining": "0", "ratelimit-reset": str(clock.now + 1200)}, 200)
    with pytest.raises(DOBudgetExhausted):
        spend.spend(clock.sleep)

    other = budget(clock, per_minute=250, per_hour=5000)
    other.observe({"retry-after": "7"}, 429)
    other.spend(clock.sleep)
    assert clock.slept == [pytest.approx(7)]


def test_the_budget_key_never_holds_the_token():
    spend = RateBudget("dop_v1_secret", store=MemoryStore())
    assert "secret" not in spend.key and spend.key.startswith("do-rate:")


def test_the_emulator_enforces_digitalocean_limits_when_asked():
    clock = FakeTime()
    emulator = DigitalOceanEmulator(
        period=PERIOD, clock=AFTER, rate_limits=(3, 100), rate_clock=clock.time
    )
    with run_emulator(emulator):
        client = DigitalOceanClient(emulator.base_url, emulator.token, max_retries=0)
        for _ in range(3):
            client.list_domains()
        import requests

        refused = requests.get(
            f"{emulator.base_url}/v2/domains",
            headers={"Authorization": f"Bearer {emulator.token}"},
            timeout=5,
        )
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 60
        assert refused.headers["ratelimit-remaining"] == "97"


@pytest.mark.django_db
def test_a_large_account_syncs_within_the_limits_without_one_429():
    clock = FakeTime()
    emulator = DigitalOceanEmulator(
        generate_account(droplets=3000, seed=5),
        period=PERIOD,
        clock=AFTER,
        rate_limits=(10, 1000),
        rate_clock=clock.time,
    )
    with run_emulator(emulator):
        client = DigitalOceanClient(
            emulator.base_url,
            emulator.token,
            sleep=clock.sleep,
            budget=budget(clock, per_minute=10, per_hour=1000),
        )
        results = sync_all(client=client, now=AFTER)

    assert not any(r.skipped for r in results)
    assert emulator.request_count("/v2/droplets", status=429) == 0
    assert sum(1 for r in emulator.request_log if r.status == 429) == 0
    assert CloudResource.objects.filter(kind="droplet").count() == 3000
    assert sum(clock.slept) >= 60  # spread over minutes rather than refused


@pytest.mark.django_db
def test_a_spent_budget_defers_the_sync_and_strikes_nothing():
    clock = FakeTime()
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=AFTER)) as emulator:
        sync_all(client=DigitalOceanClient(emulator.base_url, emulator.token), now=AFTER)
        before = set(CloudResource.objects.values_list("id", "stale_strike_count"))
        spent = budget(clock, per_minute=250, per_hour=1)
        client = DigitalOceanClient(
            emulator.base_url, emulator.token, budget=spent, sleep=clock.sleep
        )
        served = len(emulator.request_log)

        first = sync_target("dns_zone", client=client, now=AFTER)
        second = sync_target("droplet", client=client, now=AFTER)

    assert not first.skipped
    assert second.skipped.startswith("deferred: DigitalOcean rate budget")
    assert len(emulator.request_log) == served + 1  # the deferred sync sent nothing
    assert set(CloudResource.objects.values_list("id", "stale_strike_count")) == before


def test_two_workers_share_one_budget_in_redis():
    from integrations.digitalocean.ratelimit import store_for
    from tests.services import redis_server

    with redis_server() as url:
        clock = FakeTime()
        # two processes' views of one token's budget: the same Redis windows
        first = RateBudget(
            "shared-token", store=store_for(url), per_minute=2, per_hour=3, clock=clock.time
        )
        second = RateBudget(
            "shared-token", store=store_for(url), per_minute=2, per_hour=3, clock=clock.time
        )
        first.spend(clock.sleep)
        second.spend(clock.sleep)
        first.spend(clock.sleep)  # the minute is full: waits for the first request to leave it
        assert clock.slept == [pytest.approx(60)]
        with pytest.raises(DOBudgetExhausted):  # 3 in the hour, across both
            second.spend(clock.sleep)
        second.observe({"retry-after": "30"}, 429)
        assert RateBudget("other-token", store=store_for(url), clock=clock.time).key != first.key
