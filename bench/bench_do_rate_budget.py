"""DigitalOcean's rate limits and a 20,000-droplet account: one hour of the inventory schedule
(inventory/schedules.py) against an emulator that enforces DO's limits (250 requests a minute,
5,000 an hour), through the real syncs and the client's rate budget, on a simulated clock.

A fifth of the droplets have weekly backups (4 each). Targets: no 429 all hour, at most 250
requests in any minute and 5,000 in the hour, every sync complete (none deferred)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque

import requests
from _common import fresh_schema, report, timed

from integrations.digitalocean import DigitalOceanClient, RateBudget
from integrations.digitalocean.ratelimit import PER_HOUR, PER_MINUTE, MemoryStore
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory.schedules import SCHEDULES
from inventory.sync import sync_target

DROPLETS = 20_000
WITH_BACKUPS_EVERY = 5
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def account() -> dict:
    fixture = generate_account(droplets=DROPLETS, seed=11)
    for index, droplet in enumerate(fixture["droplets"]):
        if index % WITH_BACKUPS_EVERY == 0:
            droplet["features"] = ["backups"]
            droplet["_backups"] = [
                {
                    "id": 900_000_000 + index * 4 + week,
                    "name": f"{droplet['name']} backup {week}",
                    "regions": [droplet["region"]["slug"]],
                    "min_disk_size": 25,
                    "size_gigabytes": 2.5,
                    "type": "backup",
                    "distribution": "Ubuntu",
                    "public": False,
                    "created_at": f"2026-04-{1 + 7 * week:02d}T03:00:00Z",
                }
                for week in range(4)
            ]
    return fixture


def hour_of_runs() -> list[tuple[int, str]]:
    """(minute, target) for every scheduled sync in one hour, in time order."""
    runs = []
    for spec in SCHEDULES:
        if "target" not in spec.kwargs:
            continue  # the daily measurement tasks: not part of the hourly sync schedule
        for minute in str(spec.minute).split(","):
            runs.append((int(minute), spec.kwargs["target"]))
    return sorted(runs)


def peak_per_minute(times: list[float]) -> int:
    window: deque[float] = deque()
    peak = 0
    for moment in sorted(times):
        window.append(moment)
        while window[0] <= moment - 60:
            window.popleft()
        peak = max(peak, len(window))
    return peak


def main() -> None:
    fresh_schema()
    clock = SimulatedTime()
    emulator = DigitalOceanEmulator(
        account(),
        period=dt.date(2026, 4, 1),
        clock=NOW,
        rate_limits=(PER_MINUTE, PER_HOUR),
        rate_clock=clock.time,
    )
    sent_at: list[float] = []
    budget = RateBudget(
        emulator.token,
        store=MemoryStore(),
        per_minute=PER_MINUTE,
        per_hour=PER_HOUR,
        clock=clock.time,
    )
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: sent_at.append(clock.now))
    with run_emulator(emulator) as running:
        client = DigitalOceanClient(
            running.base_url, running.token, sleep=clock.sleep, budget=budget, session=session
        )
        # The account as inventory knows it before the measured hour (a previous hour's syncs).
        for target in ("droplet", "projects"):
            sync_target(target, client=client, now=NOW)
        start = clock.now + 3600  # a fresh hour: the warm-up's requests have left the window
        clock.now = start
        before = len(running.request_log)
        sent_at.clear()
        per_target: Counter[str] = Counter()
        deferred = []
        with timed() as elapsed:
            for minute, target in hour_of_runs():
                clock.now = max(clock.now, start + 60 * minute)
                served = len(running.request_log)
                result = sync_target(target, client=client, now=NOW)
                if result.skipped:
                    deferred.append(f"{minute}:{target}: {result.skipped}")
                per_target[target] += len(running.request_log) - served
        log = running.request_log[before:]
    refused = sum(1 for record in log if record.status == 429)
    total, peak = len(log), peak_per_minute(sent_at)
    met = refused == 0 and total <= PER_HOUR and peak <= PER_MINUTE and not deferred
    report(
        "DigitalOcean rate limits, 20,000 droplets, one hour of scheduled syncs",
        result=f"{total} requests in the hour, peak {peak}/min, {refused} answered 429",
        target=f"≤ {PER_HOUR}/h, ≤ {PER_MINUTE}/min, no 429, no sync deferred",
        met=met,
        requests_per_target=dict(sorted(per_target.items())),
        droplets_with_backups=DROPLETS // WITH_BACKUPS_EVERY,
        simulated_minutes=round((clock.now - start) / 60, 1),
        wall_seconds=round(elapsed["seconds"], 1),
        deferred=deferred,
    )


if __name__ == "__main__":
    main()
