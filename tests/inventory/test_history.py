"""Issue 17: the billed timeline of every resource, kept by the inventory chokepoint in the
transaction of each change it records."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import CloudResource, CloudResourceHistory
from inventory.normalize import ResourceSnapshot
from inventory.services import (
    STRIKES_TO_DELETE,
    Placement,
    mark_stale,
    resources_attach_to_deployment,
    resources_attribute,
    upsert_resources,
)
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def snap(provider_id="101", **overrides) -> ResourceSnapshot:
    values = {
        "kind": "droplet",
        "provider_id": provider_id,
        "name": f"web-{provider_id}",
        "region": "syd1",
        "size_slug": "s-1vcpu-2gb",
        "status": "active",
        "attrs": {"size_gb": "50", "tags": [], "created_at": "2026-04-01T09:30:00Z"},
    }
    values.update(overrides)
    return ResourceSnapshot(**values)


def timeline(resource_id=None) -> list[tuple]:
    rows = CloudResourceHistory.objects.order_by("resource_id", "valid_from")
    if resource_id is not None:
        rows = rows.filter(resource_id=resource_id)
    return list(rows.values_list("kind", "status", "size", "valid_from", "valid_to"))


def second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def test_a_new_resource_starts_at_do_created_at_when_earlier_than_first_sight():
    early = snap(attrs={"size_gb": "50", "created_at": "2026-03-30T08:00:00Z"})
    late = snap("102", attrs={"size_gb": "50", "created_at": "2026-04-02T00:00:00Z"})

    upsert_resources([early, late], now=T0)

    first, second_ = CloudResource.objects.order_by("provider_id")
    assert [row[3] for row in timeline(first.pk)] == [dt.datetime(2026, 3, 30, 8, tzinfo=dt.UTC)]
    assert [row[3] for row in timeline(second_.pk)] == [second(T0)]  # later than first sight
    assert timeline(first.pk)[0][4] is None


def test_each_billed_change_closes_an_interval_and_opens_the_next():
    upsert_resources([snap(attrs={"size_gb": "50"})], now=T0)
    upsert_resources([snap(attrs={"size_gb": "50"})], now=T0 + HOUR)  # unchanged: nothing new
    upsert_resources([snap(status="off", attrs={"size_gb": "50"})], now=T0 + 2 * HOUR)
    upsert_resources([snap(status="off", attrs={"size_gb": "80"})], now=T0 + 3 * HOUR)
    upsert_resources(
        [snap(name="renamed", status="off", attrs={"size_gb": "80"})], now=T0 + 4 * HOUR
    )

    # A droplet bills by the hour whatever its disk: the resize and the rename are not billed
    # changes (they are still `updated` events); the power-off is.
    assert timeline() == [
        ("droplet", "active", Decimal(1), second(T0), second(T0 + 2 * HOUR)),
        ("droplet", "off", Decimal(1), second(T0 + 2 * HOUR), None),
    ]


def test_a_volume_resize_is_a_new_interval_at_its_new_size():
    volume = snap("v1", kind="volume", status="attached", attrs={"size_gb": "100"})
    upsert_resources([volume], now=T0)
    upsert_resources(
        [snap("v1", kind="volume", status="attached", attrs={"size_gb": "200"})], now=T0 + HOUR
    )

    assert [(row[2], row[3], row[4]) for row in timeline()] == [
        (Decimal(100), second(T0), second(T0 + HOUR)),
        (Decimal(200), second(T0 + HOUR), None),
    ]


def test_a_gpu_droplet_and_a_kubernetes_worker_bill_as_their_own_kinds():
    upsert_resources(
        [
            snap("1", attrs={"gpu_count": 8, "gpu_model": "h100"}),
            snap("2", attrs={"tags": ["k8s:abc"]}),
        ],
        now=T0,
    )

    assert [row[0] for row in timeline()] == ["gpu_droplet", "k8s_worker"]


def test_a_tombstone_ends_the_history_at_the_last_sighting_and_a_restore_reopens_it():
    upsert_resources([snap()], now=T0)
    for strike in range(1, STRIKES_TO_DELETE + 1):
        mark_stale(kind="droplet", seen_provider_ids=[], now=T0 + strike * HOUR)
    assert timeline()[0][4] == second(T0)  # its last sighting, not the third strike

    upsert_resources([snap()], now=T0 + 10 * HOUR)

    assert [(row[3], row[4]) for row in timeline()] == [
        (second(T0), second(T0)),
        (second(T0 + 10 * HOUR), None),
    ]


def test_attribution_and_attachment_are_billed_changes():
    upsert_resources([snap()], now=T0)
    resource = CloudResource.objects.get()
    resources_attribute({resource.pk: Placement(None, "acme", "test")}, now=T0 + HOUR)
    deployment = make_deployment(tenant_id="acme")

    resources_attach_to_deployment(
        resource_ids=[resource.pk], deployment_id=deployment.pk, actor="t"
    )

    rows = list(
        CloudResourceHistory.objects.order_by("valid_from").values_list(
            "tenant_id", "deployment_id", "valid_to"
        )
    )
    assert [row[:2] for row in rows] == [(None, None), ("acme", None), ("acme", deployment.pk)]
    assert rows[-1][2] is None
    assert all(row[2] is not None for row in rows[:-1])


def test_a_change_at_the_same_instant_rewrites_the_open_interval():
    upsert_resources([snap()], now=T0)
    resource = CloudResource.objects.get()
    resources_attribute({resource.pk: Placement(None, "acme", "same sync")}, now=T0)

    assert list(CloudResourceHistory.objects.values_list("tenant_id", "valid_to")) == [
        ("acme", None)
    ]


def test_the_history_of_many_resources_costs_a_constant_number_of_queries():
    def queries(count: int, now: dt.datetime, status: str) -> int:
        snapshots = [snap(str(i), status=status) for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            upsert_resources(snapshots, now=now)
        return len(captured)

    queries(5, T0, "active")
    few = queries(5, T0 + HOUR, "off")
    queries(60, T0 + 2 * HOUR, "active")
    many = queries(60, T0 + 3 * HOUR, "off")
    assert many == few
    assert CloudResourceHistory.objects.filter(valid_to__isnull=True).count() == 60


def test_the_migration_gives_existing_rows_a_history_from_their_first_sighting():
    deployment = make_deployment()
    live = CloudResource.objects.create(
        kind="volume",
        provider_id="v",
        attrs={"size_gb": "30"},
        deployment=deployment,
        first_seen_at=T0,
    )
    gone = CloudResource.objects.create(
        kind="droplet", provider_id="d", status="off", first_seen_at=T0, deleted_at=T0 + HOUR
    )
    migration = importlib.import_module(
        "inventory.migrations.0006_resource_history_from_first_sighting"
    )

    migration.seed_history(apps, None)

    assert timeline(live.pk) == [("volume", "", Decimal(30), second(T0), None)]
    assert timeline(gone.pk) == [("droplet", "off", Decimal(1), second(T0), second(T0 + HOUR))]
    assert CloudResourceHistory.objects.get(resource=live).deployment_id == deployment.pk
