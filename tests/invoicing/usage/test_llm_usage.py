"""The LLM usage service: exactly-once recording under concurrency, and how modes bill."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from arcadia_cloud.errors import Conflict, ValidationFailed
from invoicing.models import LLMUsageEvent, MeteringConfig, UsageRecord
from invoicing.usage.llm_usage import (
    EventStatus,
    LLMUsageEventInput,
    llm_usage_events_record,
)
from invoicing.usage.selectors import llm_charges_for_deployments, usage_for_period
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import at

DAY = dt.date(2026, 5, 14)


def event_input(deployment, gid: str = "gw-1", **overrides) -> LLMUsageEventInput:
    fields = {
        "ref": "",
        "gateway_request_id": gid,
        "deployment_id": deployment.pk,
        "tenant_id": deployment.tenant_id,
        "model": "claude-sonnet",
        "input_tokens": 100,
        "output_tokens": 20,
        "charge": Decimal("0.002"),
        "currency": "AUD",
        "occurred_at": at(DAY, 9),
    }
    fields.update(overrides)
    return LLMUsageEventInput(**fields)


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_event_record_it_once():
    deployment = make_deployment(llm_mode="plan")
    barrier = threading.Barrier(4)
    statuses: list[EventStatus] = []
    errors: list[BaseException] = []

    def post_once() -> None:
        try:
            barrier.wait(timeout=10)
            outcome = llm_usage_events_record(events=[event_input(deployment)])
            statuses.extend(status for _, status in outcome.statuses)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(statuses) == ["created", "duplicate", "duplicate", "duplicate"]
    assert LLMUsageEvent.objects.count() == 1
    assert usage_for_period(deployment, DAY, DAY) == {"llm_tokens": Decimal(120)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_deployment_never_lose_tokens():
    deployment = make_deployment(llm_mode="plan")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def post_batch(worker: int) -> None:
        try:
            barrier.wait(timeout=10)
            for batch in range(5):
                events = [
                    event_input(deployment, f"w{worker}-b{batch}-e{n}", ref=f"events[{n}]")
                    for n in range(20)
                ]
                llm_usage_events_record(events=events)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post_batch, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert LLMUsageEvent.objects.count() == 400
    assert usage_for_period(deployment, DAY, DAY) == {"llm_tokens": Decimal(400 * 120)}


@pytest.mark.django_db
def test_an_event_is_billed_the_way_its_deployment_was_set_when_it_arrived():
    deployment = make_deployment(llm_mode="plan")
    llm_usage_events_record(events=[event_input(deployment, "under-plan")])
    deployment.llm_mode = "passthrough"
    deployment.save()
    llm_usage_events_record(events=[event_input(deployment, "passed-through", charge=Decimal(3))])

    assert usage_for_period(deployment, DAY, DAY) == {"llm_tokens": Decimal(120)}
    assert llm_charges_for_deployments([deployment.pk], DAY, DAY) == {deployment.pk: Decimal(3)}


@pytest.mark.django_db
def test_hourly_llm_tokens_are_bucketed_by_utc_hour():
    MeteringConfig.objects.filter(billing_kind="llm_tokens").update(granularity="hourly")
    deployment = make_deployment(llm_mode="plan")
    sydney = dt.timezone(dt.timedelta(hours=10))

    llm_usage_events_record(
        events=[
            event_input(deployment, "a", occurred_at=at(DAY, 9, 5)),
            event_input(deployment, "b", occurred_at=at(DAY, 9, 55)),
            event_input(
                deployment, "c", occurred_at=dt.datetime(2026, 5, 14, 20, 30, tzinfo=sydney)
            ),
        ]
    )

    rows = UsageRecord.objects.order_by("period_start")
    assert [(row.period_start, row.granularity, row.qty) for row in rows] == [
        (at(DAY, 9), "hourly", Decimal(240)),
        (at(DAY, 10), "hourly", Decimal(120)),
    ]


@pytest.mark.django_db
def test_a_later_conflict_rolls_back_the_whole_batch():
    deployment = make_deployment()
    llm_usage_events_record(events=[event_input(deployment, "known")])

    with pytest.raises(Conflict) as raised:
        llm_usage_events_record(
            events=[
                event_input(deployment, "new", ref="events[0]"),
                event_input(deployment, "known", ref="events[1]", model="another"),
            ]
        )

    assert list(raised.value.fields) == ["events[1].gateway_request_id"]
    assert list(LLMUsageEvent.objects.values_list("gateway_request_id", flat=True)) == ["known"]


@pytest.mark.django_db
def test_inputs_refuse_inexact_charges_and_naive_times():
    deployment = make_deployment()

    with pytest.raises(ValidationFailed) as inexact:
        event_input(deployment, ref="events[2]", charge=Decimal("0.000000001"))
    with pytest.raises(ValidationFailed) as naive:
        event_input(deployment, occurred_at=dt.datetime(2026, 5, 14, 9))

    assert list(inexact.value.fields) == ["events[2].charge"]
    assert list(naive.value.fields) == ["occurred_at"]


@pytest.mark.django_db
def test_an_empty_batch_is_refused():
    with pytest.raises(ValidationFailed) as raised:
        llm_usage_events_record(events=[])

    assert list(raised.value.fields) == ["events"]
