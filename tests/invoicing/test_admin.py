"""The operators' metering and LLM usage pages render and are read-only where they should be."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from invoicing.usage.metering import meter_day
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", ["usagerecord", "meteringconfig", "llmusageevent"])
def test_changelists_render(operator, model):
    import datetime as dt

    make_resource("droplet", deployment=make_deployment(), status="active")
    meter_day(dt.date(2026, 5, 1))

    response = operator.get(f"/admin/invoicing/{model}/")

    assert response.status_code == 200


def test_usage_records_and_events_cannot_be_added(operator):
    assert operator.get("/admin/invoicing/usagerecord/add/").status_code == 403
    assert operator.get("/admin/invoicing/llmusageevent/add/").status_code == 403


def test_metering_config_is_editable_within_limits(operator):
    from invoicing.models import MeteringConfig

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
