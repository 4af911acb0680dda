"""Issue 17: a day metered while a sync was failing meters what the history knows and says so.

The droplet listing fails (the emulator answers 500) from 10:00 while the droplet is powered off
at DigitalOcean; the day is metered at 01:10 the next day. Nothing of the droplets is guessed:
they are skipped, counted per kind with the reason, and metered by a later run once a sync has
listed them again — exactly what the history then holds.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command

from deployments.services import deployment_attach_resources
from integrations.digitalocean import DigitalOceanClient, DOServerError
from integrations.digitalocean.sandbox import DigitalOceanEmulator, run_emulator
from inventory.models import CloudProject, CloudResource, CloudResourceHistory, SyncStatus
from inventory.sync import sync_all, sync_target
from invoicing.models import UsageRecord
from invoicing.tasks import meter_day as meter_day_task
from invoicing.usage.metering import meter_after_sync_failures, meter_day
from pricing.kinds import billed_as
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

PERIOD = dt.date(2026, 4, 1)
DAY = dt.date(2026, 4, 10)
NEXT = DAY + dt.timedelta(days=1)
WEB_1 = 512340101  # acme-web-1 in the default fixture


@pytest.fixture
def emulator():
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=at(DAY))) as running:
        yield running


def client_of(emulator) -> DigitalOceanClient:
    return DigitalOceanClient(
        emulator.base_url, emulator.token, sleep=lambda seconds: None, max_retries=0
    )


def sync_at(emulator, moment: dt.datetime, target: str | None = None) -> None:
    emulator.set_clock(moment)
    if target is None:
        sync_all(client=client_of(emulator), now=moment)
    else:
        sync_target(target, client=client_of(emulator), now=moment)


def history_hours(resource: CloudResource, day: dt.date) -> Fraction:
    """What the history holds: seconds of `day` the resource spent active, in hours."""
    start, end = at(day), at(day + dt.timedelta(days=1))
    seconds = 0
    for interval in CloudResourceHistory.objects.filter(resource=resource, status="active"):
        until = min(interval.valid_to or end, end)
        seconds += max(0, int((until - max(interval.valid_from, start)).total_seconds()))
    return Fraction(seconds, 3600)


def metered(resource: CloudResource, day: dt.date) -> Fraction:
    rows = UsageRecord.objects.filter(resource=resource, period_start=at(day)).exclude(
        source="measured"
    )
    return sum((Fraction(r.qty_numerator) / r.qty_denominator for r in rows), Fraction(0))


@pytest.fixture
def acme(emulator):
    """The account synced at 00:00 on DAY, acme's droplets and volume on one deployment."""
    sync_at(emulator, at(DAY))
    project = CloudProject.objects.get(name="Acme Corp")
    deployment = make_deployment(tenant_id="acme")
    resources = CloudResource.objects.filter(project=project, kind__in=["droplet", "volume"])
    deployment_attach_resources(
        deployment=deployment,
        resource_ids=list(resources.values_list("pk", flat=True)),
        actor="test",
        now=at(DAY),
    )
    return resources


def metered_droplets(resources) -> list[CloudResource]:
    """The droplets billed as droplets (Kubernetes workers bill through their cluster)."""
    return [r for r in resources.filter(kind="droplet") if billed_as(r.kind, r.attrs) == "droplet"]


def test_a_day_metered_while_the_droplet_sync_fails_skips_the_droplets_and_says_so(emulator, acme):
    droplets = metered_droplets(acme)
    web_1 = CloudResource.objects.get(provider_id=str(WEB_1))
    volume = acme.get(kind="volume")
    # 10:00: DigitalOcean powers acme-web-1 off, and the droplet listing starts failing.
    emulator.state.update("droplets", WEB_1, status="off")
    emulator.faults.add(path_prefix="/v2/droplets", status=500, every=True)
    for hour in (10, 16, 23):
        with pytest.raises(DOServerError):
            sync_at(emulator, at(DAY, hour), "droplet")
        sync_at(emulator, at(DAY, hour), "volume")  # the volume listing still works
    assert SyncStatus.objects.get(target="droplet").failing

    result = meter_day(DAY, now=at(NEXT, 1, 10))

    assert result.skipped == {"droplet": {"sync_failing": len(droplets)}}
    assert result.as_dict()["skipped"] == {"droplet": {"sync_failing": len(droplets)}}
    assert f"skipped {len(droplets)} droplet (sync_failing)" in result.summary()
    # Nothing guessed for the droplets; the volume, listed all day, is metered.
    assert not UsageRecord.objects.filter(resource__in=acme.filter(kind="droplet")).exists()
    assert metered(volume, DAY) == Fraction(100, 30)

    # 02:00 the next day the listing works again: it sees acme-web-1 off from then.
    emulator.faults.clear()
    sync_at(emulator, at(NEXT, 2), "droplet")
    assert not SyncStatus.objects.get(target="droplet").failing
    caught_up = meter_after_sync_failures(day=NEXT, now=at(NEXT, 3))

    assert caught_up is not None and caught_up.skipped == {}
    assert caught_up.records_created == len(droplets)  # the droplets' rows of DAY, only
    # Metered = what the history knows (it saw web-1 active until the 02:00 listing).
    assert metered(web_1, DAY) == history_hours(web_1, DAY) == 24
    for droplet in droplets:
        assert metered(droplet, DAY) == history_hours(droplet, DAY)
    assert metered(volume, DAY) == Fraction(100, 30)  # left as it was


def test_the_daily_task_reports_the_skipped_kinds(emulator, acme, settings):
    emulator.faults.add(path_prefix="/v2/droplets", status=500, every=True)
    with pytest.raises(DOServerError):
        sync_at(emulator, at(DAY, 12), "droplet")

    report = meter_day_task(DAY.isoformat())

    assert report["skipped"] == {"droplet": {"sync_failing": len(metered_droplets(acme))}}


def test_a_sync_that_recovered_after_the_day_skips_nothing(emulator, acme):
    emulator.faults.add(path_prefix="/v2/droplets", status=500, times=1)
    with pytest.raises(DOServerError):
        sync_at(emulator, at(DAY, 12), "droplet")
    sync_at(emulator, at(NEXT, 0, 15), "droplet")  # listed again after the day's end

    result = meter_day(DAY, now=at(NEXT, 1, 10))

    assert result.skipped == {}
    assert meter_after_sync_failures(day=NEXT + dt.timedelta(days=10)) is None


def test_the_meter_command_says_which_kinds_were_skipped_and_why(emulator, acme):
    emulator.faults.add(path_prefix="/v2/droplets", status=500, every=True)
    with pytest.raises(DOServerError):
        sync_at(emulator, at(DAY, 12), "droplet")
    out = StringIO()

    call_command("meter", "--from", DAY.isoformat(), stdout=out)

    count = len(metered_droplets(acme))
    assert f"skipped {count} droplet (sync_failing)" in out.getvalue()
    assert f"not metered while their sync was failing: {count} droplet resource-days" in (
        out.getvalue()
    )
