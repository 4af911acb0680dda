"""Measurements at the source (issue 17): Spaces bucket sizes through the S3 API against a real
S3-compatible server (moto's server mode on loopback), droplet bandwidth from DigitalOcean's
monitoring API served by the emulator."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal

import pytest
import responses

from arcadia_cloud.validation import FieldError
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.ratelimit import MemoryStore, RateBudget
from integrations.digitalocean.sandbox import DigitalOceanEmulator, run_emulator
from integrations.spaces import SpacesClient
from integrations.spaces_sandbox import SANDBOX_KEY_ID, SANDBOX_SECRET, create_bucket, s3_admin
from inventory import tasks
from inventory.measurements import (
    BANDWIDTH_METRIC,
    SPACES_METRIC,
    integrate_mbps,
    measure_bandwidth,
    measure_spaces,
)
from inventory.models import MeasurementStatus, ResourceMeasurement
from inventory.services import measurement_record
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 14)
DAY_START = int(dt.datetime(2026, 10, 14, tzinfo=dt.UTC).timestamp())
AFTER = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
PERIOD = dt.date(2026, 9, 1)
# Fixture droplets; the emulator serves each (id mod 7 + 1) / 4 Mbps of public outbound traffic
# while active (acme-web-2 is powered off at 14:00 on the 9th of the period: `_changes`).
ACME_WEB_1, ACME_WEB_2, ACME_DB_1 = "512340101", "512340102", "512340103"


def measurement(resource, day=DAY, metric=BANDWIDTH_METRIC) -> ResourceMeasurement:
    return ResourceMeasurement.objects.get(resource=resource, day=day, metric=metric)


# -- the integration rule ---------------------------------------------------------------------


def test_a_constant_mbps_over_a_day_is_mbps_times_seconds_over_8000_gb():
    points = [(DAY_START + 300 * n, Decimal(1)) for n in range(288)]
    assert integrate_mbps(points, start=DAY_START, end=DAY_START + 86_400) == Decimal("10.8")


def test_each_point_holds_until_the_next_and_nothing_outside_the_window_counts():
    points = [
        (DAY_START - 300, Decimal(999)),  # before the day: ignored
        (DAY_START + 3600, Decimal(8)),  # 8 Mbps for an hour = 3.6 GB
        (DAY_START + 7200, Decimal(0)),  # then silence until the end
        (DAY_START + 86_400, Decimal(999)),  # the next day's first point: ignored
    ]
    assert integrate_mbps(points, start=DAY_START, end=DAY_START + 86_400) == Decimal("3.6")


# -- bandwidth from the monitoring API ---------------------------------------------------------


def test_bandwidth_is_measured_per_droplet_from_the_emulators_series():
    web_1 = make_resource("droplet", provider_id=ACME_WEB_1)
    db_1 = make_resource("droplet", provider_id=ACME_DB_1)
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token)
        result = measure_bandwidth(client=client, day=DAY, retry_days=0)
        requests_sent = emulator.request_count("/v2/monitoring/metrics/droplet/bandwidth")

    assert (result.measured, result.failed, requests_sent) == (2, 0, 2)
    # 0.25 Mbps and 0.75 Mbps all day: x 86,400 s / 8 / 1000.
    assert measurement(web_1).value == Decimal("2.700000")
    assert measurement(db_1).value == Decimal("8.100000")
    assert measurement(web_1).status == MeasurementStatus.COMPLETE
    assert measurement(web_1).detail["points"] == 288


def test_a_droplet_powered_off_mid_day_sends_traffic_only_until_then():
    """acme-web-2 (0.5 Mbps) is powered off at 14:00 on the 9th: that day's series is 0.5 Mbps
    for 14 hours, then 0 — 0.5 x 50,400 s / 8 / 1000 = 3.15 GB; the day before it is 5.4 GB."""
    web_2 = make_resource("droplet", provider_id=ACME_WEB_2)
    ninth = dt.date(2026, 9, 9)
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token)
        for day in (ninth - dt.timedelta(days=1), ninth, ninth + dt.timedelta(days=1)):
            measure_bandwidth(client=client, day=day, retry_days=0)

    assert [
        measurement(web_2, day=ninth + dt.timedelta(days=offset)).value for offset in (-1, 0, 1)
    ] == [Decimal("5.400000"), Decimal("3.150000"), Decimal("0.000000")]


def test_a_failing_droplet_is_recorded_failed_the_others_measured_and_it_is_retried_next_run():
    web_1 = make_resource("droplet", provider_id=ACME_WEB_1)
    db_1 = make_resource("droplet", provider_id=ACME_DB_1)
    emulator = DigitalOceanEmulator(period=PERIOD, clock=AFTER)
    emulator.faults.add(path_prefix="/v2/monitoring", nth=1, status=400)
    with run_emulator(emulator):
        client = DigitalOceanClient(emulator.base_url, emulator.token)
        first = measure_bandwidth(client=client, day=DAY, retry_days=0)
        failed = measurement(web_1)
        second = measure_bandwidth(client=client, day=DAY, retry_days=0)

    assert (first.measured, first.failed) == (1, 1)
    assert failed.status == MeasurementStatus.FAILED and failed.value is None
    assert "400" in failed.reason
    assert measurement(db_1).value == Decimal("8.100000")
    # The next run asks only for the droplet still missing, and gets it.
    assert (second.measured, second.failed) == (1, 0)
    assert measurement(web_1).status == MeasurementStatus.COMPLETE
    assert measurement(web_1).value == Decimal("2.700000")


def test_the_last_days_missing_droplets_are_retried_by_the_next_days_run():
    web_1 = make_resource("droplet", provider_id=ACME_WEB_1)
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token)
        result = measure_bandwidth(client=client, day=DAY, retry_days=2)

    assert result.measured == 3
    assert sorted(
        ResourceMeasurement.objects.filter(resource=web_1).values_list("day", flat=True)
    ) == [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY]


def test_a_droplet_without_data_points_is_failed_not_zero():
    unknown = make_resource("droplet", provider_id="1")  # the emulator has no series for it
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        measure_bandwidth(
            client=DigitalOceanClient(emulator.base_url, emulator.token), day=DAY, retry_days=0
        )
    assert measurement(unknown).status == MeasurementStatus.FAILED
    assert "no data points" in measurement(unknown).reason


def test_a_spent_rate_budget_defers_the_rest_and_records_nothing_for_them():
    make_resource("droplet", provider_id=ACME_WEB_1)
    make_resource("droplet", provider_id=ACME_WEB_2)
    now = [1_800_000_000.0]
    budget = RateBudget(
        "a-token", store=MemoryStore(), per_minute=250, per_hour=1, clock=lambda: now[0]
    )
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token, budget=budget)
        result = measure_bandwidth(client=client, day=DAY, retry_days=0)
        sent = emulator.request_count("/v2/monitoring/metrics/droplet/bandwidth")

    assert (result.measured, result.deferred, sent) == (1, 1, 1)
    assert ResourceMeasurement.objects.count() == 1


# -- Spaces through the S3 API (a real S3 server on loopback) ----------------------------------


def spaces(endpoint: str, **kwargs) -> SpacesClient:
    return SpacesClient(
        access_key_id=SANDBOX_KEY_ID,
        secret_access_key=SANDBOX_SECRET,
        endpoint_url=endpoint,
        **kwargs,
    )


def test_a_buckets_size_is_the_sum_of_its_objects_over_every_page(s3_server):
    total = create_bucket(s3_server, "acme-assets", [1_000, 250_000, 4_000_000, 17, 5])
    bucket = make_resource("spaces_bucket", name="acme-assets", region="syd1")

    result = measure_spaces(client=spaces(s3_server, page_size=2), day=DAY)

    row = measurement(bucket, metric=SPACES_METRIC)
    assert result.measured == 1
    assert total == 4_251_022
    assert row.value == Decimal("0.004251")  # GB = 10^9 bytes, 6 places
    assert row.detail == {"bytes": 4_251_022, "objects": 5, "pages": 3}


def test_a_bucket_past_the_time_bound_is_partial_and_a_missing_one_failed(s3_server):
    create_bucket(s3_server, "big-bucket", [10] * 5)
    create_bucket(s3_server, "small-bucket", [10, 20])
    big = make_resource("spaces_bucket", name="big-bucket")
    missing = make_resource("spaces_bucket", name="no-such-bucket")
    small = make_resource("spaces_bucket", name="small-bucket")
    ticks = iter(range(1000))  # one "second" per look at the clock

    client = spaces(s3_server, page_size=2, max_seconds=2, clock=lambda: float(next(ticks)))
    result = measure_spaces(client=client, day=DAY)

    assert (result.measured, result.partial, result.failed) == (1, 1, 1)
    assert measurement(big, metric=SPACES_METRIC).status == MeasurementStatus.PARTIAL
    assert "lower bound" in measurement(big, metric=SPACES_METRIC).reason
    assert measurement(missing, metric=SPACES_METRIC).status == MeasurementStatus.FAILED
    assert "NoSuchBucket" in measurement(missing, metric=SPACES_METRIC).reason
    assert measurement(small, metric=SPACES_METRIC).detail["bytes"] == 30


def test_a_complete_measurement_is_final_and_a_failed_one_is_replaced(s3_server):
    bucket = make_resource("spaces_bucket", name="late-bucket")
    measure_spaces(client=spaces(s3_server), day=DAY)  # the bucket does not exist yet
    assert measurement(bucket, metric=SPACES_METRIC).status == MeasurementStatus.FAILED

    create_bucket(s3_server, "late-bucket", [2_000_000])
    measure_spaces(client=spaces(s3_server), day=DAY)
    assert measurement(bucket, metric=SPACES_METRIC).value == Decimal("0.002000")

    s3_admin(s3_server).put_object(Bucket="late-bucket", Key="later", Body=b"\0" * 1000)
    again = measure_spaces(client=spaces(s3_server), day=DAY)
    assert again.measured == 0  # the day is complete: not measured again, not changed
    assert measurement(bucket, metric=SPACES_METRIC).value == Decimal("0.002000")
    record = measurement_record(
        resource_id=bucket.id,
        day=DAY,
        metric=SPACES_METRIC,
        status=MeasurementStatus.COMPLETE,
        source="test",
        value=Decimal(9),
    )
    assert record.value == Decimal("0.002000")


def test_without_spaces_keys_one_line_is_logged_and_nothing_measured(settings, caplog):
    settings.SPACES_ACCESS_KEY_ID = ""
    settings.SPACES_SECRET_ACCESS_KEY = ""
    make_resource("spaces_bucket", name="acme-assets")
    with caplog.at_level(logging.INFO, logger="inventory.tasks"):
        result = tasks.measure_spaces(DAY.isoformat())
    assert result == {"metric": SPACES_METRIC, "skipped": "no Spaces keys configured"}
    assert len([r for r in caplog.records if r.name == "inventory.tasks"]) == 1
    assert not ResourceMeasurement.objects.exists()


def test_the_task_measures_with_the_keys_and_endpoint_from_settings(settings, s3_server):
    settings.SPACES_ACCESS_KEY_ID = SANDBOX_KEY_ID
    settings.SPACES_SECRET_ACCESS_KEY = SANDBOX_SECRET
    settings.SPACES_ENDPOINT_URL = s3_server
    create_bucket(s3_server, "globex-exports", [3_000_000, 500_000])
    bucket = make_resource("spaces_bucket", name="globex-exports")

    result = tasks.measure_spaces(DAY.isoformat())

    assert result["measured"] == 1
    assert measurement(bucket, metric=SPACES_METRIC).value == Decimal("0.003500")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("metric", {"metric": "cpu", "status": "complete", "value": Decimal(1)}),
        ("status", {"metric": SPACES_METRIC, "status": "guessed", "value": Decimal(1)}),
        ("value", {"metric": SPACES_METRIC, "status": "complete", "value": None}),
    ],
)
def test_a_bad_measurement_names_its_field_and_writes_nothing(field, kwargs):
    bucket = make_resource("spaces_bucket")
    with pytest.raises(FieldError) as excinfo:
        measurement_record(resource_id=bucket.id, day=DAY, source="test", **kwargs)
    assert excinfo.value.field == field
    assert not ResourceMeasurement.objects.exists()


def test_a_powered_off_droplet_sends_nothing_and_is_measured_as_zero():
    warehouse = make_resource("droplet", provider_id="512340203")  # `off` in the fixture
    with run_emulator(period=PERIOD, clock=AFTER) as emulator:
        measure_bandwidth(
            client=DigitalOceanClient(emulator.base_url, emulator.token), day=DAY, retry_days=0
        )
    assert measurement(warehouse).status == MeasurementStatus.COMPLETE
    assert measurement(warehouse).value == Decimal(0)


@responses.activate
def test_a_malformed_series_fails_that_droplet_only_and_is_never_guessed():
    bad = make_resource("droplet", provider_id="11")
    good = make_resource("droplet", provider_id="12")
    url = "https://do.test/v2/monitoring/metrics/droplet/bandwidth"

    def series(request):
        host = request.params["host_id"]
        values = [[DAY_START, "not a number"]] if host == "11" else [[DAY_START, "8"]]
        result = [{"metric": {"host_id": host}, "values": values}]
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return 200, {}, json.dumps(body)

    responses.add_callback(responses.GET, url, callback=series)
    client = DigitalOceanClient("https://do.test", "a-token", max_retries=0)
    result = measure_bandwidth(client=client, day=DAY, retry_days=0)

    assert (result.measured, result.failed) == (1, 1)
    assert measurement(bad).status == MeasurementStatus.FAILED
    assert "not [timestamp, Mbps]" in measurement(bad).reason
    assert measurement(good).value == Decimal("86.400000")  # 8 Mbps all day
    sent = responses.calls[0].request.params
    assert {k: sent[k] for k in ("interface", "direction")} == {
        "interface": "public",
        "direction": "outbound",
    }
    assert int(sent["start"]) == DAY_START and int(sent["end"]) < DAY_START + 86_400


def test_without_a_token_the_bandwidth_task_logs_one_line_and_measures_nothing(settings, caplog):
    for name in ("DO_API_TOKEN", "DO_TOKEN_SYNC"):
        setattr(settings, name, "")
    make_resource("droplet", provider_id=ACME_WEB_1)
    with caplog.at_level(logging.INFO, logger="inventory.tasks"):
        result = tasks.measure_bandwidth(DAY.isoformat())
    assert result == {"metric": BANDWIDTH_METRIC, "skipped": "no DigitalOcean token configured"}
    assert len([r for r in caplog.records if r.name == "inventory.tasks"]) == 1
    assert not ResourceMeasurement.objects.exists()
