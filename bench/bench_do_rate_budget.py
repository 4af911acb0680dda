"""DigitalOcean's rate limits and the 100,000-resource account of issue 22 (80,000 droplets,
their backups, volumes, snapshots, IPs, buckets, domains, databases, load balancers, apps,
firewalls, clusters: `generate.LARGE_ACCOUNT`): one hour of the inventory schedule
(inventory/schedules.py), the bandwidth slice included, against an emulator that enforces DO's
limits (250 requests a minute, 5,000 an hour), through the real syncs, the real measurement and
the client's rate budget, on a simulated clock.

One droplet in 40 keeps 2 backups. The hour's bandwidth slice is the day's first (slot 0: a 24th
of the droplets; every slice is the same size). Targets: no 429 all hour, at most 250 requests in
any minute and 5,000 in the hour, every sync complete (none deferred), every droplet of the
slice measured (none deferred)."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, deque

import requests
from _common import fresh_schema, report, timed, vs_ceiling

from integrations.digitalocean import DigitalOceanClient, RateBudget
from integrations.digitalocean.ratelimit import PER_HOUR, PER_MINUTE, MemoryStore
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from integrations.digitalocean.sandbox.generate import LARGE_ACCOUNT, with_backups
from inventory.measurements import SLICES_PER_DAY, measure_bandwidth_slice
from inventory.models import CloudResource
from inventory.schedules import SCHEDULES
from inventory.sync import SYNC_TARGETS, sync_target

# BENCH_SCALE=0.05 runs a twentieth of the account (a quick check of the script, not a figure).
ACCOUNT = {
    kind: int(n * float(os.environ.get("BENCH_SCALE", "1"))) for kind, n in LARGE_ACCOUNT.items()
}
DROPLETS = ACCOUNT.pop("droplets")
WITH_BACKUPS_EVERY = 40
BACKUPS_EACH = 2
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
SYNCED = NOW - dt.timedelta(days=2)  # inventory knew the account before the measured day
MEASURED_DAY = (NOW - dt.timedelta(days=1)).date()
BANDWIDTH = "bandwidth"


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def account() -> dict:
    fixture = generate_account(droplets=DROPLETS, seed=11, **ACCOUNT)
    return with_backups(fixture, every=WITH_BACKUPS_EVERY, each=BACKUPS_EACH)


def hour_of_runs() -> list[tuple[int, str]]:
    """(minute, target) for every scheduled sync and the bandwidth slice in one hour (a
    midday hour: the Spaces measurement runs only at 00:20 and 00:50), in time order."""
    runs = []
    for spec in SCHEDULES:
        if spec.hour != "*":
            continue  # a daily task, not in this hour
        target = spec.kwargs.get("target") or (
            BANDWIDTH if spec.task == "inventory.measure_bandwidth" else None
        )
        if target is None:
            raise SystemExit(f"the bench does not know how to run {spec.task}")
        for minute in str(spec.minute).split(","):
            runs.append((int(minute), target))
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
        with timed() as warm_up:
            for target in SYNC_TARGETS:
                sync_target(target, client=client, now=SYNCED)
        resources = CloudResource.objects.filter(deleted_at=None).count()
        start = clock.now + 3600  # a fresh hour: the warm-up's requests have left the window
        clock.now = start
        before = len(running.request_log)
        sent_at.clear()
        per_target: Counter[str] = Counter()
        deferred = []
        minutes: dict[str, float] = {}
        with timed() as elapsed:
            for minute, target in hour_of_runs():
                clock.now = max(clock.now, start + 60 * minute)
                began, served = clock.now, len(running.request_log)
                if target == BANDWIDTH:
                    measured = measure_bandwidth_slice(
                        client=client, day=MEASURED_DAY, through_slice=0
                    )
                    if measured.skipped or measured.deferred or measured.failed:
                        deferred.append(f"{minute}:{target}: {measured.summary()}")
                else:
                    result = sync_target(target, client=client, now=NOW)
                    if result.skipped:
                        deferred.append(f"{minute}:{target}: {result.skipped}")
                per_target[target] += len(running.request_log) - served
                minutes[f"{minute}:{target}"] = round((clock.now - began) / 60, 1)
        log = running.request_log[before:]
    refused = sum(1 for record in log if record.status == 429)
    total, peak = len(log), peak_per_minute(sent_at)
    slice_size = -(-DROPLETS // SLICES_PER_DAY)
    met = (
        refused == 0
        and total <= PER_HOUR
        and peak <= PER_MINUTE
        and not deferred
        and per_target[BANDWIDTH] >= DROPLETS // SLICES_PER_DAY
    )
    report(
        f"DigitalOcean rate limits, {resources:,} resources ({DROPLETS:,} droplets), one hour of "
        "scheduled syncs and the bandwidth slice",
        result=(
            f"{total:,} requests in the hour ({total / PER_HOUR:.2f} of {PER_HOUR:,}), peak "
            f"{peak}/min ({peak / PER_MINUTE:.2f} of {PER_MINUTE}), {refused} answered 429"
        ),
        target=f"≤ {PER_HOUR}/h, ≤ {PER_MINUTE}/min, no 429, nothing deferred",
        met=met,
        vs_ceiling=[
            vs_ceiling(
                f"{total:,} requests in the hour",
                f"DigitalOcean's {PER_HOUR:,}/h per token",
                total / PER_HOUR,
                "of the hourly limit",
            ),
            vs_ceiling(
                f"peak {peak}/min",
                f"DigitalOcean's {PER_MINUTE}/min",
                peak / PER_MINUTE,
                "of the minute limit",
            ),
        ],
        requests_per_hour=total,
        peak_per_minute=peak,
        requests_per_target=dict(sorted(per_target.items())),
        bandwidth_slice_droplets=slice_size,
        bandwidth_requests_per_day=DROPLETS,
        resources=resources,
        droplets_with_backups=DROPLETS // WITH_BACKUPS_EVERY,
        simulated_minutes=round((clock.now - start) / 60, 1),
        simulated_minutes_per_run=minutes,
        warm_up_sync_seconds=round(warm_up["seconds"], 1),
        wall_seconds=round(elapsed["seconds"], 1),
        deferred=deferred,
    )


if __name__ == "__main__":
    main()
