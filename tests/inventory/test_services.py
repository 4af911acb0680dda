"""The upsert chokepoint, three-strike deletion, the append-only audit (SPEC §4), attachment to
deployments and drift events: every write of inventory's tables."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arcadia_cloud.errors import Conflict
from arcadia_cloud.models import AppendOnlyError
from arcadia_cloud.validation import FieldError
from inventory.models import CloudResource, CloudResourceEvent
from inventory.normalize import ResourceSnapshot
from inventory.services import (
    MAX_RESOURCES_PER_CALL,
    DriftObservation,
    mark_stale,
    project_classify,
    resource_events_record_drift,
    resources_attach_to_deployment,
    resources_detach_from_deployment,
    upsert_resource,
    upsert_resources,
)
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_project, make_resource

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def snap(provider_id="101", **overrides) -> ResourceSnapshot:
    values = {
        "kind": "droplet",
        "provider_id": provider_id,
        "name": f"web-{provider_id}",
        "region": "syd1",
        "size_slug": "s-1vcpu-2gb",
        "status": "active",
        "attrs": {"size_gb": "50", "tags": ["a"], "locked": False},
    }
    values.update(overrides)
    return ResourceSnapshot(**values)


def event_types(resource=None) -> list[str]:
    qs = CloudResourceEvent.objects.order_by("id")
    if resource is not None:
        qs = qs.filter(resource=resource)
    return list(qs.values_list("type", flat=True))


def test_new_resource_is_inserted_with_a_discovered_event():
    result = upsert_resource(snap(), now=T0)
    resource = CloudResource.objects.get()
    assert result.created == 1
    assert (resource.name, resource.first_seen_at, resource.last_seen_at) == ("web-101", T0, T0)
    assert event_types() == ["discovered"]


def test_unchanged_resource_writes_no_event_but_is_seen():
    upsert_resource(snap(), now=T0)
    CloudResource.objects.update(stale_strike_count=2)
    later = T0 + dt.timedelta(minutes=15)
    result = upsert_resource(snap(), now=later)
    resource = CloudResource.objects.get()
    assert result.unchanged == 1
    assert resource.last_seen_at == later
    assert resource.stale_strike_count == 0
    assert event_types() == ["discovered"]


def test_changed_resource_is_updated_with_the_diff():
    upsert_resource(snap(), now=T0)
    upsert_resource(snap(size_slug="s-2vcpu-4gb", attrs={"size_gb": "80", "tags": ["a"]}), now=T0)
    resource = CloudResource.objects.get()
    assert resource.size_slug == "s-2vcpu-4gb"
    event = CloudResourceEvent.objects.get(type="updated")
    assert event.changes == {
        "size_slug": ["s-1vcpu-2gb", "s-2vcpu-4gb"],
        "attrs.size_gb": ["50", "80"],
    }


def test_volatile_attrs_alone_make_no_event():
    upsert_resource(snap(), now=T0)
    result = upsert_resource(snap(attrs={"size_gb": "50", "tags": ["a"], "locked": True}), now=T0)
    assert result.unchanged == 1
    assert event_types() == ["discovered"]


def test_volatile_attrs_alone_are_still_stored():
    # the backups sync reads a droplet's backup_ids, a new one every week
    upsert_resource(snap(attrs={"size_gb": "50", "backup_ids": ["1"]}), now=T0)
    later = T0 + dt.timedelta(days=7)
    upsert_resource(snap(attrs={"size_gb": "50", "backup_ids": ["1", "2"]}), now=later)
    resource = CloudResource.objects.get()
    assert (resource.attrs["backup_ids"], resource.last_seen_at) == (["1", "2"], later)
    assert event_types() == ["discovered"]


def test_three_strikes_tombstone_and_seen_again_restores():
    upsert_resources([snap("1"), snap("2")], now=T0)
    for strike in (1, 2):
        result = mark_stale(kind="droplet", seen_provider_ids=["1"], now=T0)
        assert (result.struck, result.tombstoned) == (1, 0)
        assert CloudResource.objects.get(provider_id="2").stale_strike_count == strike
    result = mark_stale(kind="droplet", seen_provider_ids=["1"], now=T0)
    gone = CloudResource.objects.get(provider_id="2")
    assert (result.struck, result.tombstoned) == (0, 1)
    assert gone.deleted_at == T0
    assert event_types(gone) == ["discovered", "deleted"]

    upsert_resource(snap("2"), now=T0 + dt.timedelta(hours=1))
    gone.refresh_from_db()
    assert gone.deleted_at is None and gone.stale_strike_count == 0
    assert event_types(gone) == ["discovered", "deleted", "restored"]


def test_missing_twice_then_back_resets_strikes_without_deleting():
    upsert_resources([snap("1"), snap("2")], now=T0)
    mark_stale(kind="droplet", seen_provider_ids=["1"], now=T0)
    mark_stale(kind="droplet", seen_provider_ids=["1"], now=T0)
    upsert_resources([snap("1"), snap("2")], now=T0)
    mark_stale(kind="droplet", seen_provider_ids=["1", "2"], now=T0)
    back = CloudResource.objects.get(provider_id="2")
    assert back.stale_strike_count == 0 and back.deleted_at is None
    assert "deleted" not in event_types(back)


def test_mark_stale_only_touches_its_kind():
    upsert_resources([snap("1"), snap("z", kind="dns_zone", name="a.example")], now=T0)
    mark_stale(kind="droplet", seen_provider_ids=[], now=T0)
    assert CloudResource.objects.get(kind="dns_zone").stale_strike_count == 0


def test_unchanged_resync_is_set_based(django_assert_max_num_queries):
    upsert_resources([snap(str(i)) for i in range(300)], now=T0)
    with django_assert_max_num_queries(8):  # incl. savepoints; constant in N
        upsert_resources([snap(str(i)) for i in range(300)], now=T0 + dt.timedelta(minutes=15))
        mark_stale(kind="droplet", seen_provider_ids=[str(i) for i in range(300)], now=T0)
    assert CloudResourceEvent.objects.count() == 300


def test_events_are_append_only():
    upsert_resource(snap(), now=T0)
    event = CloudResourceEvent.objects.get()
    event.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        CloudResourceEvent.objects.all().update(actor="x")
    with pytest.raises(AppendOnlyError):
        CloudResourceEvent.objects.all().delete()
    assert CloudResourceEvent.objects.get().actor == "sync"


def test_placeholder_never_overwrites_what_a_row_knows():
    upsert_resource(snap("bucket-1", kind="spaces_bucket", name="bucket-1", region="syd1"), now=T0)
    upsert_resource(
        ResourceSnapshot(
            kind="spaces_bucket", provider_id="bucket-1", name="bucket-1", placeholder=True
        ),
        now=T0,
    )
    assert CloudResource.objects.get().region == "syd1"
    assert event_types() == ["discovered"]


def test_classifying_a_project_reattributes_its_live_resources():
    project = make_project(name="Acme Corp")
    live = make_resource(project=project)
    dead = make_resource(project=project, deleted_at=timezone.now())
    result = project_classify(
        project=project, tenant_id="acme", purpose="tenant", actor="admin:ops"
    )
    live.refresh_from_db()
    dead.refresh_from_db()
    assert result.attributed == 1
    assert live.tenant_id == "acme" and dead.tenant_id is None
    event = CloudResourceEvent.objects.get(resource=live)
    assert event.type == "attributed" and event.actor == "admin:ops"
    assert event.changes["tenant_id"] == [None, "acme"]


@pytest.mark.parametrize("bad", [" acme", "ACME", "acme corp", "acme\x00"])
def test_classifying_a_project_refuses_a_tenant_id_not_in_its_one_spelling(bad):
    project = make_project(name="Acme Corp")
    make_resource(project=project)
    with pytest.raises(FieldError) as refused:
        project_classify(project=project, tenant_id=bad, purpose="tenant", actor="admin:ops")
    assert "tenant_id" in refused.value.fields
    project.refresh_from_db()
    assert project.tenant_id is None
    assert not CloudResourceEvent.objects.exists()


def test_classifying_a_project_to_no_tenant_clears_it():
    project = make_project(name="Acme Corp")
    project_classify(project=project, tenant_id="acme", purpose="tenant", actor="admin:ops")
    project_classify(project=project, tenant_id="", purpose="internal", actor="admin:ops")
    project.refresh_from_db()
    assert project.tenant_id is None and project.purpose == "internal"


# ---------------------------------------------------------------------------------------------
# Attachment to deployments
# ---------------------------------------------------------------------------------------------


def attach(resources, deployment, *, actor="ops", reassign=False):
    return resources_attach_to_deployment(
        resource_ids=[r.pk for r in resources],
        deployment_id=deployment.pk,
        actor=actor,
        reassign=reassign,
    )


def attributions(resource) -> list[tuple[list, str]]:
    return [
        (event.changes["deployment"], event.actor)
        for event in CloudResourceEvent.objects.filter(resource=resource, type="attributed")
    ]


class TestAttachToDeployment:
    def test_one_attributed_event_per_resource_with_the_actor(self):
        deployment = make_deployment()
        resources = [make_resource() for _ in range(3)]
        outcome = attach(resources, deployment, actor="admin:ops")
        assert outcome.attached == sorted(r.pk for r in resources)
        assert (outcome.reassigned, outcome.unchanged) == ([], [])
        assert set(CloudResource.objects.values_list("deployment_id", flat=True)) == {deployment.pk}
        for resource in resources:
            assert attributions(resource) == [([None, deployment.pk], "admin:ops")]

    def test_query_count_does_not_grow_with_the_number_of_resources(self):
        def queries_to_attach(count: int) -> int:
            deployment = make_deployment()
            resources = [make_resource() for _ in range(count)]
            with CaptureQueriesContext(connection) as captured:
                attach(resources, deployment)
            return len(captured.captured_queries)

        # the lock, one update, one insert of the events, and the savepoint around them; the
        # history (issue 17): one read of the rows, one of their open intervals, one update
        # closing them, one insert opening the next; the margin summaries (issue 22): one read
        # of the moved resources' cost lines (none here, so nothing is rewritten)
        assert queries_to_attach(2) == queries_to_attach(40) <= 10

    def test_a_resource_of_another_deployment_is_a_409_unless_reassigned(self):
        first, second = make_deployment(), make_deployment()
        resource, free = make_resource(), make_resource()
        attach([resource], first)
        with pytest.raises(Conflict) as refused:
            attach([resource, free], second)
        assert list(refused.value.fields) == ["resource_ids"]
        assert refused.value.extra["attached_elsewhere"] == {str(resource.pk): first.pk}
        assert CloudResource.objects.get(pk=free.pk).deployment_id is None  # all or nothing

        outcome = attach([resource, free], second, actor="admin:mover", reassign=True)
        assert outcome.reassigned == [resource.pk]
        assert outcome.attached == sorted([resource.pk, free.pk])
        assert attributions(resource)[-1] == ([first.pk, second.pk], "admin:mover")

    def test_reattaching_to_the_same_deployment_changes_nothing(self):
        deployment = make_deployment()
        resource = make_resource()
        attach([resource], deployment)
        outcome = attach([resource], deployment)
        assert (outcome.attached, outcome.unchanged) == ([], [resource.pk])
        assert CloudResourceEvent.objects.filter(resource=resource).count() == 1

    @pytest.mark.parametrize(
        "problem", ["tombstoned", "unknown", "empty", "not_a_list", "not_ids", "too_many"]
    )
    def test_refusals_name_resource_ids_and_write_nothing(self, problem):
        live = make_resource()
        tombstoned = make_resource(deleted_at=timezone.now())
        ids = {
            "tombstoned": [live.pk, tombstoned.pk],
            "unknown": [live.pk, tombstoned.pk + 1000],
            "empty": [],
            "not_a_list": str(live.pk),
            "not_ids": [live.pk, True],
            "too_many": list(range(1, MAX_RESOURCES_PER_CALL + 2)),
        }[problem]
        with pytest.raises(FieldError) as refused:
            resources_attach_to_deployment(
                resource_ids=ids, deployment_id=make_deployment().pk, actor="o"
            )
        assert list(refused.value.fields) == ["resource_ids"]
        assert not CloudResource.objects.filter(deployment__isnull=False).exists()
        assert not CloudResourceEvent.objects.exists()

    def test_detach_writes_the_old_deployment_and_the_actor(self):
        deployment = make_deployment()
        resource = make_resource()
        attach([resource], deployment)
        detached = resources_detach_from_deployment(
            resource_ids=[resource.pk], deployment_id=deployment.pk, actor="admin:undo"
        )
        assert detached == [resource.pk]
        assert CloudResource.objects.get(pk=resource.pk).deployment_id is None
        assert attributions(resource)[-1] == ([deployment.pk, None], "admin:undo")

    def test_detach_refuses_a_resource_attached_elsewhere_or_nowhere(self):
        mine, other = make_deployment(), make_deployment()
        attached_here, attached_there, loose = make_resource(), make_resource(), make_resource()
        attach([attached_here], mine)
        attach([attached_there], other)
        for stranger in (attached_there, loose):
            with pytest.raises(FieldError, match="not attached to deployment"):
                resources_detach_from_deployment(
                    resource_ids=[attached_here.pk, stranger.pk],
                    deployment_id=mine.pk,
                    actor="o",
                )
        assert CloudResource.objects.get(pk=attached_here.pk).deployment_id == mine.pk
        assert CloudResourceEvent.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# Drift events
# ---------------------------------------------------------------------------------------------


def test_drift_events_are_written_in_one_insert_with_the_actor():
    first, second = make_resource(), make_resource()
    observations = [
        DriftObservation(first.pk, field="size_slug", expected="s-1vcpu-1gb", actual="s-2vcpu"),
        DriftObservation(first.pk, field="exists", expected=True, actual=False),
        DriftObservation(second.pk, field="attrs.tags", expected=["a"], actual=["b"]),
    ]
    with CaptureQueriesContext(connection) as captured:
        written = resource_events_record_drift(drifts=observations, actor="system", now=T0)
    assert written == 3
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["INSERT"]
    events = list(CloudResourceEvent.objects.order_by("id"))
    assert [(e.resource_id, e.type, e.actor, e.occurred_at) for e in events] == [
        (first.pk, "drift_detected", "system", T0),
        (first.pk, "drift_detected", "system", T0),
        (second.pk, "drift_detected", "system", T0),
    ]
    assert events[0].changes == {
        "field": "size_slug",
        "expected": "s-1vcpu-1gb",
        "actual": "s-2vcpu",
    }


def test_no_drift_writes_nothing():
    with CaptureQueriesContext(connection) as captured:
        assert resource_events_record_drift(drifts=[], actor="system", now=T0) == 0
    assert captured.captured_queries == []
