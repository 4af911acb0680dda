"""Inventory at 100,000 resources (issue 22 item 4), at small scale: the generator's account of
every kind synced whole, and an unchanged re-sync writes no row (neither resources nor events
nor history: only each kind's listing mark), while a resource that goes missing still gets
the moment of the last listing that saw it as its `deleted_at`."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory.models import CloudResource, KindListing, SyncStatus
from inventory.normalize import ResourceSnapshot
from inventory.services import STRIKES_TO_DELETE, mark_stale, upsert_resources
from inventory.sync import sync_all

pytestmark = pytest.mark.django_db

PERIOD = dt.date(2026, 4, 1)
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
EXTRAS = {
    "volumes": 12,
    "snapshots": 6,
    "reserved_ips": 5,
    "buckets": 4,
    "domains": 3,
    "databases": 3,
    "load_balancers": 2,
    "apps": 2,
    "firewalls": 2,
    "kubernetes_clusters": 2,
}
WRITE = re.compile(r'^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"(\w+)"', re.IGNORECASE)


@contextlib.contextmanager
def rows_written() -> Iterator[Counter[str]]:
    """Rows inserted, updated or deleted per table while the block runs (the statements'
    row counts, as the database reports them)."""
    written: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        match = WRITE.match(sql)
        if match:
            written[match.group(1)] += max(context["cursor"].rowcount, 0)
        return result

    with connection.execute_wrapper(count):
        yield written


def snap(provider_id: str) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind="droplet",
        provider_id=provider_id,
        name=f"web-{provider_id}",
        region="syd1",
        size_slug="s-1vcpu-2gb",
        status="active",
        attrs={"size_gb": "50"},
    )


def test_an_unchanged_row_is_not_written_by_the_upsert():
    upsert_resources([snap("1"), snap("2")], now=T0)
    with CaptureQueriesContext(connection) as captured:
        result = upsert_resources([snap("1"), snap("2")], now=T0 + dt.timedelta(minutes=15))
    writes = [q["sql"] for q in captured.captured_queries if WRITE.match(q["sql"])]
    assert result.unchanged == 2 and writes == []


def test_a_resource_gone_missing_is_deleted_as_of_the_last_listing_that_saw_it():
    listings = [T0 + dt.timedelta(minutes=15 * n) for n in range(2 + STRIKES_TO_DELETE)]
    for at in listings[:2]:  # both listed, unchanged: the second writes no resource row
        upsert_resources([snap("1"), snap("2")], now=at)
        mark_stale(kind="droplet", seen_provider_ids=["1", "2"], now=at)
    for at in listings[2:]:  # "2" missing from three complete listings
        upsert_resources([snap("1")], now=at)
        mark_stale(kind="droplet", seen_provider_ids=["1"], now=at)
    gone = CloudResource.objects.get(provider_id="2")
    assert gone.deleted_at == listings[1]  # not T0 (its last write), not the third miss
    assert CloudResource.objects.get(provider_id="1").deleted_at is None
    assert KindListing.objects.get(kind="droplet").listed_at == listings[-1]


def test_a_resource_seen_again_after_a_miss_is_written_and_its_strikes_reset():
    upsert_resources([snap("1")], now=T0)
    mark_stale(kind="droplet", seen_provider_ids=[], now=T0)
    later = T0 + dt.timedelta(minutes=15)
    upsert_resources([snap("1")], now=later)
    back = CloudResource.objects.get()
    assert (back.stale_strike_count, back.last_seen_at) == (0, later)


def test_the_generated_account_of_every_kind_syncs_whole_and_an_unchanged_resync_writes_nothing():
    account = generate_account(droplets=50, seed=5, **EXTRAS)
    with run_emulator(DigitalOceanEmulator(account, period=PERIOD, clock=NOW)) as running:
        client = DigitalOceanClient(running.base_url, running.token, sleep=lambda s: None)
        first = sync_all(client=client, now=NOW)
        with rows_written() as written:
            again = sync_all(client=client, now=NOW + dt.timedelta(minutes=15))
    kinds = Counter(CloudResource.objects.filter(deleted_at=None).values_list("kind", flat=True))
    assert not [r.summary() for r in first if r.skipped]
    for kind, count in {
        "droplet": 50,
        "volume": 12,
        "snapshot": 6,
        "floating_ip": 5,
        "spaces_bucket": 4,
        "dns_zone": 3,
        "managed_db": 3,
        "load_balancer": 2,
        "app": 2,
        "firewall": 2,
        "k8s_cluster": 2,
    }.items():
        assert kinds[kind] >= count, (kind, kinds)
    assert all(r.upsert.created == r.upsert.updated == r.upsert.restored == 0 for r in again)
    assert all(r.stale.struck == r.stale.tombstoned == 0 for r in again)
    # The only rows written are the bookkeeping marks: the listing mark of each kind listed and
    # each sync target's outcome (its last success, which metering reads).
    assert set(written) <= {KindListing._meta.db_table, SyncStatus._meta.db_table}, written
    assert written[KindListing._meta.db_table] == KindListing.objects.count()
    assert written[SyncStatus._meta.db_table] == SyncStatus.objects.count()
