"""Inventory sync of 20,000 droplets from the emulator (100 pages): first sync and an unchanged
re-sync, through the real sync path (client → normalize → upsert → mark_stale).

Targets: first sync ≤ 20 s, unchanged re-sync ≤ 8 s and writes no events."""

from __future__ import annotations

import datetime as dt

from _common import counting_queries, fresh_schema, report, timed

from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory.models import CloudResource, CloudResourceEvent
from inventory.sync import sync_target

DROPLETS = 20_000
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)


def main() -> None:
    fresh_schema()
    account = generate_account(droplets=DROPLETS, seed=7)
    emulator = DigitalOceanEmulator(account, period=dt.date(2026, 4, 1), clock=NOW)
    with run_emulator(emulator) as running:
        client = DigitalOceanClient(running.base_url, running.token)
        with timed() as first, counting_queries() as first_queries:
            result = sync_target("droplet", client=client, now=NOW)
        assert result.upsert.created == DROPLETS, result.summary()
        events_before = CloudResourceEvent.objects.count()
        later = NOW + dt.timedelta(minutes=15)
        with timed() as again, counting_queries() as again_queries:
            resync = sync_target("droplet", client=client, now=later)
        new_events = CloudResourceEvent.objects.count() - events_before
        pages = running.request_count("/v2/droplets") // 2
    assert CloudResource.objects.filter(kind="droplet").count() == DROPLETS
    met = first["seconds"] <= 20 and again["seconds"] <= 8 and new_events == 0
    report(
        "inventory sync, 20,000 droplets (first / unchanged re-sync)",
        result=f"{first['seconds']:.1f} s / {again['seconds']:.1f} s, re-sync events {new_events}",
        target="≤ 20 s / ≤ 8 s, re-sync writes no events",
        met=met,
        pages=pages,
        first_queries=first_queries.count,
        resync_queries=again_queries.count,
        queries_per_resource_first=round(first_queries.count / DROPLETS, 4),
        queries_per_resource_resync=round(again_queries.count / DROPLETS, 4),
        resync_summary=resync.summary(),
    )


if __name__ == "__main__":
    main()
