"""The operators' metering and LLM usage pages: what each list and filter shows, and which pages
are read-only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from invoicing.models import LLMUsageEvent, MeteringConfig
from invoicing.usage.metering import meter_day
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import add_usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


USAGE = "/admin/invoicing/usagerecord/"
EVENTS = "/admin/invoicing/llmusageevent/"
MAY_1, MAY_2 = dt.date(2026, 5, 1), dt.date(2026, 5, 2)


def shown(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def usage():
    """Two metered days of a droplet and a volume of `shop`, and a manual April row of `blog`."""
    shop = make_deployment(slug="shop")
    make_resource("droplet", deployment=shop, status="active", name="shop-web")
    make_resource("volume", deployment=shop, size_gb=31, name="shop-data")
    meter_day(MAY_1)
    meter_day(MAY_2)
    add_usage(make_deployment(slug="blog"), "dns_zones", 1, day=dt.date(2026, 4, 3))


def usage_rows(response) -> list[tuple[str, str, str, str]]:
    return [
        (row.deployment.slug, row.resource_kind, f"{row.period_start:%m-%d}", row.source)
        for row in shown(response)
    ]


def test_the_usage_list_shows_every_row_newest_first(operator, usage):
    assert usage_rows(operator.get(USAGE)) == [
        ("blog", "dns_zones", "04-03", "manual"),
        ("shop", "volume_gb_month", "05-02", "meter"),
        ("shop", "droplet_hours", "05-02", "meter"),
        ("shop", "volume_gb_month", "05-01", "meter"),
        ("shop", "droplet_hours", "05-01", "meter"),
    ]


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        (
            {"resource_kind__exact": "droplet_hours"},
            [
                ("shop", "droplet_hours", "05-02", "meter"),
                ("shop", "droplet_hours", "05-01", "meter"),
            ],
        ),
        ({"source__exact": "manual"}, [("blog", "dns_zones", "04-03", "manual")]),
        ({"granularity__exact": "hourly"}, []),
        (
            {"period_start__year": "2026", "period_start__month": "5", "period_start__day": "2"},
            [
                ("shop", "volume_gb_month", "05-02", "meter"),
                ("shop", "droplet_hours", "05-02", "meter"),
            ],
        ),
        ({"q": "blog"}, [("blog", "dns_zones", "04-03", "manual")]),
        (
            {"q": "shop-data"},
            [
                ("shop", "volume_gb_month", "05-02", "meter"),
                ("shop", "volume_gb_month", "05-01", "meter"),
            ],
        ),
    ],
)
def test_usage_filters_show_exactly_the_rows_they_name(operator, usage, query, rows):
    assert usage_rows(operator.get(USAGE, query)) == rows


def llm_event(deployment, request_id: str, *, model: str, currency: str, billed_as: str, day: int):
    return LLMUsageEvent.objects.create(
        gateway_request_id=request_id,
        deployment=deployment,
        tenant_id=deployment.tenant_id,
        model=model,
        input_tokens=100,
        output_tokens=50,
        charge=Decimal("0.0125"),
        currency=currency,
        occurred_at=dt.datetime(2026, 5, day, 12, tzinfo=dt.UTC),
        billed_as=billed_as,
        payload_hash=request_id.rjust(64, "0"),
    )


@pytest.fixture
def events():
    shop = make_deployment(slug="shop")
    llm_event(shop, "req-1", model="claude", currency="AUD", billed_as="passthrough", day=1)
    llm_event(shop, "req-2", model="gpt-5", currency="USD", billed_as="passthrough", day=2)
    llm_event(shop, "req-3", model="claude", currency="AUD", billed_as="plan", day=3)


@pytest.mark.parametrize(
    ("query", "request_ids"),
    [
        ({}, ["req-3", "req-2", "req-1"]),
        ({"model": "claude"}, ["req-3", "req-1"]),
        ({"currency": "USD"}, ["req-2"]),
        ({"billed_as__exact": "plan"}, ["req-3"]),
        (
            {"occurred_at__year": "2026", "occurred_at__month": "5", "occurred_at__day": "2"},
            ["req-2"],
        ),
        ({"q": "req-1"}, ["req-1"]),
        ({"q": "req"}, []),  # the search is an exact request id
    ],
)
def test_llm_event_filters_show_exactly_the_events_they_name(operator, events, query, request_ids):
    assert [e.gateway_request_id for e in shown(operator.get(EVENTS, query))] == request_ids


def test_the_metering_config_list_shows_every_kind(operator):
    rows = shown(operator.get("/admin/invoicing/meteringconfig/"))
    assert {row.billing_kind for row in rows} == set(
        MeteringConfig.objects.values_list("billing_kind", flat=True)
    )
    assert "droplet_hours" in {row.billing_kind for row in rows}


def test_usage_records_and_events_cannot_be_added(operator):
    assert operator.get("/admin/invoicing/usagerecord/add/").status_code == 403
    assert operator.get("/admin/invoicing/llmusageevent/add/").status_code == 403


def test_metering_config_is_editable_within_limits(operator):
    config = MeteringConfig.objects.get(billing_kind="droplet_hours")
    url = f"/admin/invoicing/meteringconfig/{config.pk}/change/"

    too_short = operator.post(
        url, {"billing_kind": "droplet_hours", "granularity": "hourly", "retention_days": 10}
    )
    accepted = operator.post(
        url, {"billing_kind": "droplet_hours", "granularity": "hourly", "retention_days": 90}
    )

    assert too_short.status_code == 200  # the form again, with the error
    assert accepted.status_code == 302
    config.refresh_from_db()
    assert (config.granularity, config.retention_days) == ("hourly", 90)


def test_billable_statuses_are_editable_in_the_admin_and_bad_ones_refused(operator):
    config = MeteringConfig.objects.get(billing_kind="droplet_hours")
    url = f"/admin/invoicing/meteringconfig/{config.pk}/change/"
    form = {"billing_kind": "droplet_hours", "granularity": "daily", "retention_days": 400}

    refused = operator.post(url, {**form, "billable_statuses": '"active"'})
    accepted = operator.post(url, {**form, "billable_statuses": '["active", "off"]'})

    assert refused.status_code == 200  # the form again, with the error
    assert "status names" in refused.content.decode()
    assert accepted.status_code == 302
    config.refresh_from_db()
    assert config.billable_statuses == ["active", "off"]


def test_every_billing_kind_has_an_editable_metering_config_row():
    from pricing.kinds import BILLING_KINDS

    assert set(MeteringConfig.objects.values_list("billing_kind", flat=True)) == set(BILLING_KINDS)
