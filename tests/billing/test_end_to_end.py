"""The default sandbox account, end to end: inventory replayed over April 2026, then the
April invoice synced, ingested through the Celery tasks, matched and pushed to finance; and
April's daily costs ingested, matched and reconciled against the invoice."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
import responses

from billing.models import CloudCostLine, CloudDailyCost, CloudInvoice
from billing.selectors import cogs_source_for_period, daily_cost_reconciliation
from billing.tasks import ingest_daily_costs, sync_billing_history
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, run_emulator
from integrations.digitalocean.sandbox.emulator import DEFAULT_ACCOUNT_URN
from inventory.models import CloudResource
from inventory.sync import sync_all
from tests.billing.factories import PERIOD, day

pytestmark = pytest.mark.django_db

MID_PERIOD = day(5) + dt.timedelta(hours=12)  # globex-batch-tmp lives from day 3 to day 12
AFTER_PERIOD = dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC)
FINANCE_URL = "https://finance.test"


@pytest.fixture
def replayed_april(settings):
    """Inventory as a month of syncs leaves it: seen mid-April, then three syncs after it."""
    emulator = DigitalOceanEmulator(period=PERIOD, clock=MID_PERIOD)
    with run_emulator(emulator):
        client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=lambda s: None)
        sync_all(client=client, now=MID_PERIOD)
        emulator.set_clock(AFTER_PERIOD)
        for round_number in range(3):  # the third missed sync tombstones
            sync_all(client=client, now=AFTER_PERIOD + dt.timedelta(minutes=15 * round_number))
        settings.DO_API_BASE_URL = emulator.base_url
        settings.DO_TOKEN_BILLING = emulator.token
        settings.FINANCE_URL = FINANCE_URL
        yield emulator


def test_default_account_invoice_is_matched_and_pushed(
    replayed_april, django_capture_on_commit_callbacks
):
    tombstoned = set(
        CloudResource.objects.filter(kind="droplet", deleted_at__isnull=False).values_list(
            "name", flat=True
        )
    )
    assert tombstoned == {"acme-worker-old", "globex-batch-tmp"}

    with responses.RequestsMock() as finance:
        finance.add_passthru(replayed_april.base_url)
        finance.post(
            f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice",
            json={"status": "created", "id": "fin-2026-04"},
        )
        with django_capture_on_commit_callbacks(execute=True):
            sync_billing_history.delay().get()
        [push] = [call for call in finance.calls if call.request.method == "POST"]

    invoice = CloudInvoice.objects.get()
    lines = CloudCostLine.objects.filter(invoice=invoice).select_related("resource")
    assert (invoice.period, invoice.line_count) == (PERIOD, 31)
    assert (invoice.matched_count, invoice.unmatched_count, invoice.ambiguous_count) == (29, 2, 0)

    by_kind = Counter(line.kind for line in lines if line.match_status == "matched")
    assert by_kind == {
        "droplet": 13,  # globex-ml-1, a GPU droplet, among them
        "droplet_backup": 4,
        "snapshot": 4,
        "volume": 1,
        "load_balancer": 1,
        "floating_ip": 1,
        "managed_db": 1,
        "k8s_cluster": 2,  # one line per worker node, grouped under the cluster
        "app": 1,
        "container_registry": 1,
    }
    # Lines the JSON invoice gives an id are matched by it, to the resource with that id;
    # the others (the unused floating IP, the registry) by name.
    ids = {
        line.description: line.resource_uuid or line.resource_id
        for line in replayed_april.invoice.lines
    }
    for line in lines.filter(match_status="matched"):
        expected_kind = "droplet" if line.kind == "droplet_backup" else line.kind
        assert line.resource.kind == expected_kind
        if ids[line.description]:
            assert line.match_reason.startswith(f"by id {ids[line.description]}:")
            assert line.resource.provider_id == ids[line.description]
        else:
            assert line.match_reason.startswith("by name and lifetime:")
            assert line.resource.name.lower() == line.resource_name.lower()

    destroyed = {line.resource_name: line for line in lines if line.match_code == "tombstoned"}
    assert set(destroyed) == {"acme-worker-old", "globex-batch-tmp"}

    unmatched = {
        line.description: line.match_code for line in lines if line.match_status != "matched"
    }
    assert unmatched == {
        "Spaces ($5/mo 250GB storage & 1TB bandwidth)": "account_level",
        "GST (10%)": "tax",
    }

    assert json.loads(push.request.body) | {"external_id": None} == {
        "source": "digitalocean",
        "external_id": None,
        "vendor": "DigitalOcean",
        "category": "cloud",
        "period": "2026-04-01",
        "currency": "USD",
        "amount_net_minor": 582878,
        "amount_tax_minor": 58288,
        "amount_gross_minor": 641166,
    }
    assert (invoice.finance_status, invoice.finance_invoice_id) == ("created", "fin-2026-04")
    assert invoice.last_error == ""


def test_daily_costs_match_like_the_invoice_then_reconcile_against_it(
    replayed_april, settings, django_capture_on_commit_callbacks
):
    """The month's billing insights, ingested by the nightly task, match the resources the
    invoice's lines match (by name and lifetime: insights carry no ids); once the invoice is
    in, the reconciliation shows the emulator's per-day rounding, a few cents per kind."""
    settings.DO_BILLING_ACCOUNT_URN = DEFAULT_ACCOUNT_URN
    assert ingest_daily_costs("2026-04-01", "2026-04-30")["status"] == "ingested"
    assert cogs_source_for_period(PERIOD).source == "daily"
    with responses.RequestsMock() as finance:
        finance.add_passthru(replayed_april.base_url)
        finance.post(
            f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice",
            json={"status": "created", "id": "fin-2026-04"},
        )
        with django_capture_on_commit_callbacks(execute=True):
            sync_billing_history.delay().get()
    assert cogs_source_for_period(PERIOD).source == "invoice"

    # Every row of a resource the invoice matched is matched to the same resource.
    invoiced = {
        (line.description, line.group_description): line.resource_id
        for line in CloudCostLine.objects.filter(match_status="matched")
    }
    # Except on the days inventory did not see the resource alive: this replay synced on 5 April
    # and after the month only, so the unused floating IP (DigitalOcean gives it no created_at)
    # lives from 5 April 12:00 in inventory, and the two droplets destroyed on the 12th were last
    # seen on the 5th. A day is matched only within the recorded lifetime (billing.matching):
    # those days stay `not_alive`, with the lifetime in their reason; the month's invoice line
    # overlaps the lifetime and matches.
    outside_lifetime = Counter()
    for row in CloudDailyCost.objects.exclude(amount=0):
        if row.resource_id != invoiced.get((row.description, row.group_description)):
            assert row.match_code == "not_alive" and "did not exist between" in row.match_reason
            outside_lifetime[row.description] += 1
    assert outside_lifetime == {
        "Unused Floating IP - 203.0.113.10": 4,  # 1-4 April
        "acme-worker-old (s-1vcpu-1gb)": 6,  # 6-11 April
        "globex-batch-tmp (s-4vcpu-8gb)": 6,
    }

    report = daily_cost_reconciliation(PERIOD)
    assert (report["status"], report["days_covered"]) == ("reconciled", 30)
    by = {row["kind"]: row for row in report["kinds"]}
    # 1,008.00 / 672 x 24 = 36.00 a day exactly: a month of the warehouse droplet adds up, while
    # 12.00 (0.4286 → 0.43 a day, +0.04 a month) and 6.00 droplets (0.2143 → 0.21, -0.12) do not.
    assert by["droplet"]["difference_usd_cents"] != 0
    assert by["load_balancer"]["difference_usd_cents"] == 4  # 12.00: 28 x 0.43 = 12.04
    assert by["volume"]["difference_usd_cents"] == 8  # 10.00: 28 x 0.36 = 10.08
    assert report["total"]["invoice_usd_cents"] == 582878
    assert report["total"]["daily_usd_cents"] - 582878 == report["total"]["difference_usd_cents"]
