"""Droplet bandwidth within the rate budget (issue 22 item 4, issue 17 item 6): a day measured in
hourly slices, each droplet asked for once a day even with two workers, a failure retried by the
next slice, the droplets left unmeasured named by the day's last slice; against the emulator."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from urllib.parse import parse_qs

import pytest
from django.db import connection

from arcadia_cloud.locks import try_advisory_lock
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from inventory import tasks
from inventory.measurements import (
    BANDWIDTH_METRIC,
    LAST_SLICE,
    MAX_BANDWIDTH_ATTEMPTS,
    SLICES_PER_DAY,
    measure_bandwidth_slice,
)
from inventory.models import CloudResource, MeasurementStatus, ResourceMeasurement
from inventory.sync import sync_target

DAY = dt.date(2026, 5, 1)
NOW = dt.datetime(2026, 5, 2, 6, tzinfo=dt.UTC)
PERIOD = dt.date(2026, 4, 1)
DROPLETS = 60
BANDWIDTH_PATH = "/v2/monitoring/metrics/droplet/bandwidth"


def emulator() -> DigitalOceanEmulator:
    return DigitalOceanEmulator(
        generate_account(droplets=DROPLETS, seed=3), period=PERIOD, clock=NOW
    )


def synced(running) -> DigitalOceanClient:
    client = DigitalOceanClient(running.base_url, running.token)
    sync_target("droplet", client=client, now=dt.datetime(2026, 4, 20, tzinfo=dt.UTC))
    assert CloudResource.objects.filter(kind="droplet").count() == DROPLETS
    return client


def asked_hosts(running) -> Counter[str]:
    return Counter(
        parse_qs(record.query)["host_id"][0]
        for record in running.request_log
        if record.path == BANDWIDTH_PATH
    )


def complete() -> set[int]:
    return set(
        ResourceMeasurement.objects.filter(
            day=DAY, metric=BANDWIDTH_METRIC, status=MeasurementStatus.COMPLETE
        ).values_list("resource_id", flat=True)
    )


@pytest.mark.django_db
def test_a_day_is_measured_in_hourly_slices_each_droplet_once():
    with run_emulator(emulator()) as running:
        client = synced(running)
        per_slice = [
            measure_bandwidth_slice(client=client, day=DAY, through_slice=h).measured
            for h in range(SLICES_PER_DAY)
        ]
        hosts = asked_hosts(running)
    slots = Counter(
        pk % SLICES_PER_DAY for pk in CloudResource.objects.values_list("pk", flat=True)
    )
    # Slice h asks for its own slot's droplets (a 24th of the account), none twice.
    assert per_slice == [slots[h] for h in range(SLICES_PER_DAY)]
    assert sum(per_slice) == DROPLETS and max(per_slice) < DROPLETS / 8
    assert len(hosts) == DROPLETS and set(hosts.values()) == {1}
    assert len(complete()) == DROPLETS


@pytest.mark.django_db
def test_a_slice_picks_up_what_earlier_slices_left_a_late_start_resumes():
    with run_emulator(emulator()) as running:
        client = synced(running)
        # The workers were down until 10:00: slice 10 measures slots 0..10 at once.
        late = measure_bandwidth_slice(client=client, day=DAY, through_slice=10)
        again = measure_bandwidth_slice(client=client, day=DAY, through_slice=10)
        last = measure_bandwidth_slice(client=client, day=DAY, through_slice=LAST_SLICE)
        hosts = asked_hosts(running)
    slots = [pk % SLICES_PER_DAY for pk in CloudResource.objects.values_list("pk", flat=True)]
    assert late.measured == sum(1 for slot in slots if slot <= 10)
    assert again.measured == 0  # nothing asked twice
    assert late.measured + last.measured == DROPLETS
    assert set(hosts.values()) == {1} and last.unmeasured == []


@pytest.mark.django_db
def test_a_failure_is_retried_by_the_next_slice():
    em = emulator()
    em.faults.add(path_prefix=BANDWIDTH_PATH, nth=1, status=400)
    with run_emulator(em) as running:
        client = synced(running)
        first = measure_bandwidth_slice(client=client, day=DAY, through_slice=0)
        failed = ResourceMeasurement.objects.get(day=DAY, status=MeasurementStatus.FAILED)
        second = measure_bandwidth_slice(client=client, day=DAY, through_slice=1)
    assert first.failed == 1 and failed.detail["attempts"] == 1
    assert failed.resource_id % SLICES_PER_DAY == 0 and failed.value is None
    failed.refresh_from_db()
    assert failed.status == MeasurementStatus.COMPLETE and failed.detail["attempts"] == 2
    assert second.failed == 0 and second.measured >= 1


@pytest.mark.django_db
def test_a_droplet_failing_every_slice_is_tried_a_few_times_then_reported_never_guessed():
    em = emulator()
    with run_emulator(em) as running:
        client = synced(running)
        em.state.remove("droplets", 300_000_000)  # DO's monitoring has no series for it
        results = [
            measure_bandwidth_slice(client=client, day=DAY, through_slice=h)
            for h in range(SLICES_PER_DAY)
        ]
        hosts = asked_hosts(running)
    gone = CloudResource.objects.get(provider_id="300000000")
    assert hosts["300000000"] == MAX_BANDWIDTH_ATTEMPTS  # not 24 requests a day
    measurement = ResourceMeasurement.objects.get(resource=gone, day=DAY)
    assert measurement.status == MeasurementStatus.FAILED and measurement.value is None
    [report] = results[LAST_SLICE].unmeasured
    assert report["provider_id"] == "300000000" and "no data points" in report["reason"]
    assert all(not r.unmeasured for r in results[:LAST_SLICE])  # only the last slice reports
    assert len(complete()) == DROPLETS - 1


@pytest.mark.django_db
def test_while_another_worker_measures_a_second_run_skips_and_asks_for_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL-only")
    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with try_advisory_lock(f"inventory-measure:{BANDWIDTH_METRIC}") as acquired:
                assert acquired
                held.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    with run_emulator(emulator()) as running:
        client = synced(running)
        holder = threading.Thread(target=other_worker)
        holder.start()
        try:
            assert held.wait(timeout=10)
            skipped = measure_bandwidth_slice(client=client, day=DAY, through_slice=LAST_SLICE)
        finally:
            release.set()
            holder.join(timeout=10)
        assert asked_hosts(running) == Counter()
    assert skipped.skipped == "another bandwidth measurement is running"
    assert not ResourceMeasurement.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_slice_at_once_measure_each_droplet_exactly_once(settings):
    em = emulator()
    em.faults.add(path_prefix=BANDWIDTH_PATH, every=True, delay=0.01)  # a slice takes a while
    with run_emulator(em) as running:
        synced(running)
        settings.DO_API_TOKEN = running.token
        settings.DO_TOKEN_SYNC = running.token
        settings.DO_API_BASE_URL = running.base_url
        results: list[dict] = []

        def worker() -> None:
            try:
                results.append(tasks.measure_bandwidth(DAY.isoformat()))
            finally:
                connection.close()

        workers = [threading.Thread(target=worker) for _ in range(2)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=60)
        hosts = asked_hosts(running)
    assert len(results) == 2
    assert sorted(r["measured"] for r in results) == [0, DROPLETS]
    assert len(hosts) == DROPLETS and set(hosts.values()) == {1}
    assert len(complete()) == DROPLETS


@pytest.mark.django_db
def test_the_task_measures_the_slice_it_is_given_and_refuses_one_past_the_day(settings):
    with run_emulator(emulator()) as running:
        synced(running)
        settings.DO_API_TOKEN = running.token
        settings.DO_TOKEN_SYNC = running.token
        settings.DO_API_BASE_URL = running.base_url
        result = tasks.measure_bandwidth(DAY.isoformat(), 0)
        with pytest.raises(ValueError, match="through_slice"):
            tasks.measure_bandwidth(DAY.isoformat(), SLICES_PER_DAY)
    slot_0 = [pk for pk in CloudResource.objects.values_list("pk", flat=True) if pk % 24 == 0]
    assert result["measured"] == len(slot_0) and result["slice"] == 0
    assert complete() == set(slot_0)


def test_the_schedule_runs_a_bandwidth_slice_every_hour():
    from inventory.schedules import SCHEDULES

    [spec] = [s for s in SCHEDULES if s.task == "inventory.measure_bandwidth"]
    assert (spec.hour, spec.minute, spec.kwargs) == ("*", "50", {})
