"""Inventory's locks: resources are locked in pk order, and the lock is really held."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory.locks import lock_project, lock_resources, sync_lock
from inventory.models import CloudResource
from tests.inventory.factories import make_project, make_resource


@contextlib.contextmanager
def resources_locked_by_another_session(pks: list[int]) -> Iterator[None]:
    """While the block runs, another session (a thread with its own connection) holds these
    resources' row locks in an open transaction; it commits when the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lock_resources(pks)
                held.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=10)
        yield
    finally:
        release.set()
        holder.join(timeout=10)


@pytest.mark.django_db
def test_resources_are_locked_in_pk_order_whatever_order_they_are_asked_in():
    resources = [make_resource() for _ in range(3)]
    asked = [resources[2].pk, resources[0].pk, resources[1].pk]
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        locked = lock_resources(asked)
    assert [r.pk for r in locked] == sorted(asked)
    [query] = captured.captured_queries
    assert query["sql"].endswith('ORDER BY "cloud_resources"."id" ASC FOR NO KEY UPDATE'), query[
        "sql"
    ]


@pytest.mark.django_db
def test_a_project_is_locked_by_its_pk():
    project = make_project()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        assert lock_project(project.pk) == project
    assert captured.captured_queries[0]["sql"].endswith("FOR UPDATE")


@pytest.mark.django_db(transaction=True)
def test_a_locked_resource_cannot_be_locked_by_another_session_until_commit():
    resource = make_resource()
    with resources_locked_by_another_session([resource.pk]):
        nowait = CloudResource.objects.select_for_update(nowait=True).filter(pk=resource.pk)
        with pytest.raises(OperationalError, match="could not obtain lock"), transaction.atomic():
            list(nowait)
    with transaction.atomic():  # released with the holder's commit
        assert [r.pk for r in lock_resources([resource.pk])] == [resource.pk]


@pytest.mark.django_db(transaction=True)
def test_a_second_sync_of_a_target_is_refused_while_the_first_holds_it():
    held, release = threading.Event(), threading.Event()

    def first_sync() -> None:
        try:
            with sync_lock("droplet") as acquired:
                assert acquired
                held.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    runner = threading.Thread(target=first_sync)
    runner.start()
    try:
        assert held.wait(timeout=10)
        with sync_lock("droplet") as second, sync_lock("volume") as other_target:
            assert (second, other_target) == (False, True)
    finally:
        release.set()
        runner.join(timeout=10)
    with sync_lock("droplet") as again:
        assert again


@pytest.mark.django_db(transaction=True)
def test_a_locked_resource_never_holds_up_usage_that_references_it():
    """Metering inserts usage rows whose foreign keys take KEY SHARE on the resource and the
    deployment; an attach holding them (FOR NO KEY UPDATE) must not block that insert, or the two
    could deadlock (each waiting on the other's next row)."""
    from invoicing.models import Granularity, UsageRecord, UsageSource
    from tests.deployments.factories import make_deployment

    deployment = make_deployment()
    resource = make_resource(deployment=deployment)
    with (
        resources_locked_by_another_session([resource.pk]),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL lock_timeout = '2s'")
        UsageRecord.objects.create(
            deployment=deployment,
            resource=resource,
            resource_kind="droplet_hours",
            period_start=resource.first_seen_at,
            granularity=Granularity.DAILY,
            qty=24,
            qty_numerator=24,
            qty_denominator=1,
            source=UsageSource.METER,
        )
    assert UsageRecord.objects.filter(resource=resource).count() == 1
