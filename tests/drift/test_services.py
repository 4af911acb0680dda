"""Recording specs, the drift sweep and accepting drift, against real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from arcadia_cloud.errors import Conflict
from arcadia_cloud.validation import FieldError
from drift import services
from drift.models import CloudDrift, CloudProvisioned
from drift.services import drift_accept, drift_detect_all, provisioned_record
from inventory.models import CloudResourceEvent
from tests.drift.factories import make_droplet, make_provisioned, open_drifts, set_live

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 1, 10, 20, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
T2 = T0 + dt.timedelta(hours=2)


def drift_events(resource):
    return list(CloudResourceEvent.objects.filter(resource=resource, type="drift_detected"))


# --- provisioned_record -------------------------------------------------------------------


def test_recording_a_spec_creates_version_one():
    resource = make_droplet()
    provisioned = provisioned_record(resource=resource, spec={"region": "syd1"}, actor="api:ops")
    assert (provisioned.spec, provisioned.spec_version, provisioned.recorded_by) == (
        {"region": "syd1"},
        1,
        "api:ops",
    )


def test_changing_the_spec_bumps_the_version_and_records_who():
    provisioned = make_provisioned(spec={"region": "syd1"})
    updated = provisioned_record(
        resource=provisioned.resource, spec={"region": "sgp1"}, actor="admin:ops"
    )
    assert (updated.pk, updated.spec_version, updated.recorded_by) == (
        provisioned.pk,
        2,
        "admin:ops",
    )
    assert CloudProvisioned.objects.get().spec == {"region": "sgp1"}


def test_re_recording_the_same_spec_changes_nothing():
    provisioned = make_provisioned(spec={"region": "syd1"})
    again = provisioned_record(resource=provisioned.resource, spec={"region": "syd1"}, actor="x")
    assert again.spec_version == 1
    assert again.recorded_by == "test:factory"


def test_a_spec_that_is_not_an_object_is_refused_naming_spec():
    with pytest.raises(FieldError) as error:
        provisioned_record(resource=make_droplet(), spec=["size_slug"], actor="x")
    assert "spec" in error.value.fields
    assert not CloudProvisioned.objects.exists()


# --- detection ----------------------------------------------------------------------------


def test_a_wrong_size_is_flagged_and_a_correct_region_is_not():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"})
    summary = drift_detect_all(now=T0)
    drift = open_drifts().get()
    assert (drift.resource_id, drift.field, drift.expected, drift.actual) == (
        provisioned.resource_id,
        "size_slug",
        "s-2vcpu-4gb",
        "s-1vcpu-1gb",
    )
    assert drift.detected_at == T0
    assert summary.as_dict() == {
        "resources": 1,
        "opened": 1,
        "refreshed": 0,
        "unchanged": 0,
        "closed_stale": 0,
    }
    [event] = drift_events(provisioned.resource)
    assert event.changes == {
        "field": "size_slug",
        "expected": "s-2vcpu-4gb",
        "actual": "s-1vcpu-1gb",
    }
    assert (event.actor, event.occurred_at) == ("system", T0)


def test_list_order_is_ignored():
    make_provisioned(make_droplet(attrs={"tags": ["a", "b"]}), spec={"tags": ["b", "a"]})
    drift_detect_all()
    assert not open_drifts().exists()


def test_dicts_compare_key_by_key():
    live = {"ipv6": True, "monitoring": False, "backups": {"enabled": True, "window": 3}}
    resource = make_droplet(attrs={"features": live})
    spec_same = {
        "features": {"backups": {"window": "3", "enabled": True}, "monitoring": False, "ipv6": True}
    }
    provisioned = make_provisioned(resource, spec=spec_same)
    drift_detect_all()
    assert not open_drifts().exists()

    spec_one_key_off = {
        "features": {**spec_same["features"], "backups": {"enabled": True, "window": 4}}
    }
    provisioned_record(resource=provisioned.resource, spec=spec_one_key_off, actor="x")
    drift_detect_all()
    assert open_drifts().get().field == "features"


def test_scalars_compare_as_strings():
    make_provisioned(make_droplet(attrs={"vcpus": 2}), spec={"vcpus": "2"})
    drift_detect_all()
    assert not open_drifts().exists()


def test_unknown_fields_are_read_from_attrs_and_missing_is_null():
    resource = make_droplet(attrs={"vcpus": 2})
    make_provisioned(resource, spec={"vcpus": 4, "monitoring": True})
    drift_detect_all()
    found = {drift.field: drift.actual for drift in open_drifts()}
    assert found == {"vcpus": 2, "monitoring": None}


def test_repeating_detection_with_the_same_actual_writes_no_second_event():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all(now=T0)
    summary = drift_detect_all(now=T1)
    assert (summary.opened, summary.unchanged) == (0, 1)
    assert len(drift_events(provisioned.resource)) == 1
    assert open_drifts().get().detected_at == T0


def test_a_changed_actual_refreshes_the_drift_and_writes_one_event():
    provisioned = make_provisioned(spec={"size_slug": "s-4vcpu-8gb"})
    drift_detect_all(now=T0)
    set_live(provisioned.resource, size_slug="s-2vcpu-4gb")
    summary = drift_detect_all(now=T1)
    drift = open_drifts().get()
    assert summary.refreshed == 1
    assert (drift.actual, drift.detected_at) == ("s-2vcpu-4gb", T0)
    events = drift_events(provisioned.resource)
    assert [event.changes["actual"] for event in events] == ["s-1vcpu-1gb", "s-2vcpu-4gb"]
    assert CloudDrift.objects.count() == 1


def test_a_re_recorded_expectation_refreshes_the_drift_without_an_event():
    provisioned = make_provisioned(spec={"size_slug": "s-4vcpu-8gb"})
    drift_detect_all(now=T0)
    provisioned_record(resource=provisioned.resource, spec={"size_slug": "s-8vcpu-16gb"}, actor="x")
    summary = drift_detect_all(now=T1)
    assert summary.refreshed == 1
    assert open_drifts().get().expected == "s-8vcpu-16gb"
    assert len(drift_events(provisioned.resource)) == 1


def test_a_drift_whose_field_matches_again_closes_as_stale():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all(now=T0)
    set_live(provisioned.resource, size_slug="s-2vcpu-4gb")
    summary = drift_detect_all(now=T1)
    drift = CloudDrift.objects.get()
    assert summary.closed_stale == 1
    assert (drift.status, drift.resolved_at, drift.resolved_by) == ("stale", T1, "system")


def test_a_drift_whose_field_left_the_spec_closes_as_stale():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"})
    drift_detect_all(now=T0)
    provisioned_record(resource=provisioned.resource, spec={"region": "syd1"}, actor="x")
    drift_detect_all(now=T1)
    assert CloudDrift.objects.get().status == "stale"


def test_a_drift_that_returns_after_closing_opens_a_new_row():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all(now=T0)
    set_live(provisioned.resource, size_slug="s-2vcpu-4gb")
    drift_detect_all(now=T1)
    set_live(provisioned.resource, size_slug="s-1vcpu-1gb")
    drift_detect_all(now=T2)
    assert list(CloudDrift.objects.order_by("id").values_list("status", flat=True)) == [
        "stale",
        "open",
    ]


def test_a_tombstoned_resource_drifts_on_exists_and_supersedes_field_drift():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all(now=T0)
    set_live(provisioned.resource, deleted_at=T0)
    drift_detect_all(now=T1)
    drift = open_drifts().get()
    assert (drift.field, drift.expected, drift.actual) == ("exists", True, False)
    assert CloudDrift.objects.get(field="size_slug").status == "stale"
    assert drift_events(provisioned.resource)[-1].changes == {
        "field": "exists",
        "expected": True,
        "actual": False,
    }


def test_detection_sweeps_every_chunk(monkeypatch):
    monkeypatch.setattr(services, "SWEEP_CHUNK_SIZE", 2)
    for _ in range(5):
        make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    summary = drift_detect_all()
    assert (summary.resources, summary.opened) == (5, 5)


def _drifting_fleet(size: int) -> list[CloudProvisioned]:
    return [
        make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1", "vcpus": 2})
        for _ in range(size)
    ]


@pytest.mark.parametrize("fleet_size", [5, 50])
def test_detection_query_count_does_not_grow_with_the_fleet(
    fleet_size, django_assert_max_num_queries
):
    fleet = _drifting_fleet(fleet_size)
    with django_assert_max_num_queries(6):  # savepoint, chunk, open drifts, 2 inserts, release
        drift_detect_all(now=T0)
    # A mixed second sweep: a third refreshed, a third closed stale, a third unchanged.
    for index, provisioned in enumerate(fleet):
        if index % 3 == 0:
            set_live(provisioned.resource, size_slug="s-8vcpu-16gb")
        elif index % 3 == 1:
            set_live(provisioned.resource, size_slug="s-2vcpu-4gb", attrs={"vcpus": 2})
    with django_assert_max_num_queries(8):
        summary = drift_detect_all(now=T1)
    assert summary.resources == fleet_size
    assert summary.refreshed and summary.closed_stale and summary.unchanged


# --- accepting ------------------------------------------------------------------------------


def test_accepting_adopts_the_live_value_and_a_new_sweep_finds_nothing():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"})
    drift_detect_all(now=T0)
    result = drift_accept(drift=open_drifts().get(), actor="api:ops")
    provisioned.refresh_from_db()
    assert provisioned.spec == {"size_slug": "s-1vcpu-1gb", "region": "syd1"}
    assert (provisioned.spec_version, provisioned.recorded_by) == (2, "api:ops")
    assert result.provisioned.spec_version == 2
    drift = CloudDrift.objects.get()
    assert (drift.status, drift.resolved_by) == ("accepted", "api:ops")
    assert drift.resolved_at is not None

    summary = drift_detect_all(now=T1)
    assert (summary.opened, summary.closed_stale) == (0, 0)
    assert not open_drifts().exists()


def test_accepting_twice_is_a_conflict_and_bumps_once():
    make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all()
    drift = open_drifts().get()
    drift_accept(drift=drift, actor="api:first")
    with pytest.raises(Conflict, match="already accepted by api:first"):
        drift_accept(drift=drift, actor="api:second")
    assert CloudProvisioned.objects.get().spec_version == 2


def test_accepting_a_stale_drift_is_a_conflict():
    provisioned = make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all()
    set_live(provisioned.resource, size_slug="s-2vcpu-4gb")
    drift_detect_all()
    with pytest.raises(Conflict, match="already stale"):
        drift_accept(drift=CloudDrift.objects.get(), actor="x")


def test_accepting_that_a_resource_is_gone_expects_it_gone_until_it_returns():
    provisioned = make_provisioned(spec={"size_slug": "s-1vcpu-1gb", "region": "syd1"})
    set_live(provisioned.resource, deleted_at=T0)
    drift_detect_all(now=T0)
    drift_accept(drift=open_drifts().get(), actor="admin:ops")
    provisioned.refresh_from_db()
    assert (provisioned.spec, provisioned.spec_version) == ({"exists": False}, 2)
    assert drift_detect_all(now=T1).opened == 0

    set_live(provisioned.resource, deleted_at=None)
    drift_detect_all(now=T2)
    drift = open_drifts().get()
    assert (drift.field, drift.expected, drift.actual) == ("exists", False, True)


# --- concurrency ----------------------------------------------------------------------------


def _run_in_threads(count: int, target) -> list[BaseException | object]:
    """Run `target` in `count` threads released together; each closes its DB connection."""
    barrier = threading.Barrier(count)
    results: list[BaseException | object] = [None] * count

    def worker(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = target(slot)
        except BaseException as exc:  # collected and asserted by the test
            results[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_accept_once_and_bump_once():
    make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all()
    drift_id = open_drifts().get().pk

    def accept(slot: int):
        return drift_accept(drift=CloudDrift.objects.get(pk=drift_id), actor=f"api:{slot}")

    results = _run_in_threads(2, accept)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    accepted = [r for r in results if isinstance(r, services.DriftAcceptance)]
    assert (len(accepted), len(conflicts)) == (1, 1), results
    assert "already accepted" in conflicts[0].message
    assert CloudProvisioned.objects.get().spec_version == 2
    assert CloudDrift.objects.get().status == "accepted"


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_open_each_drift_once():
    fleet = _drifting_fleet(30)  # two drifting fields each: size_slug and vcpus
    results = _run_in_threads(2, lambda slot: drift_detect_all(now=timezone.now()))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(r.opened for r in results) == [0, 60]
    assert sorted(r.unchanged for r in results) == [0, 60]
    assert open_drifts().count() == 60
    assert CloudResourceEvent.objects.filter(type="drift_detected").count() == 60
    assert {p.resource_id for p in fleet} == set(
        open_drifts().values_list("resource_id", flat=True)
    )
