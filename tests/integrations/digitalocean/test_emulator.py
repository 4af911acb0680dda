"""The DO emulator, exercised through the real client over loopback HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests

from integrations.digitalocean import (
    DigitalOceanClient,
    DOAuthError,
    DOBadPayload,
    DOClientError,
    DONotFound,
    DOServerError,
)
from integrations.digitalocean.sandbox import (
    CSV_HEADER,
    DigitalOceanEmulator,
    FixtureError,
    generate_account,
    load_fixture,
    run_emulator,
)

PERIOD = dt.date(2026, 10, 1)
AFTER_MONTH_END = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
ACME_WEB_1, ACME_WORKER_OLD, GLOBEX_BATCH_TMP = 512340101, 512340104, 512340204


def day(number: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 10, number, hour, tzinfo=dt.UTC)


@pytest.fixture
def emulator():
    with run_emulator(period=PERIOD, clock=AFTER_MONTH_END) as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(emulator, sleeps) -> DigitalOceanClient:
    return DigitalOceanClient(emulator.base_url, emulator.token, sleep=sleeps.append)


def money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def metadata_keys(value) -> list[str]:
    """Every key starting with `_` anywhere in a payload (none may reach the wire)."""
    if isinstance(value, dict):
        found = [key for key in value if key.startswith("_")]
        return found + [k for item in value.values() for k in metadata_keys(item)]
    if isinstance(value, list):
        return [k for item in value for k in metadata_keys(item)]
    return []


# -- the default account ---------------------------------------------------------------------------


def test_default_account_lists_every_kind_with_do_shapes(client):
    droplets = {d["name"]: d for d in client.list_droplets()}
    snapshots = client.list_snapshots()
    volumes = client.list_volumes()
    reserved_ips = {ip["ip"]: ip for ip in client.list_reserved_ips()}
    firewalls = client.list_firewalls()
    load_balancers = client.list_load_balancers()
    domains = client.list_domains()

    assert len(droplets) == 13  # 15 in the fixture (2 Kubernetes workers), 2 destroyed mid-period
    assert droplets["globex-ml-1"]["gpu_info"]["model"] == "nvidia_h100"  # via type=gpus
    assert "acme-worker-old" not in droplets
    assert "globex-batch-tmp" not in droplets
    assert all(isinstance(d["id"], int) for d in droplets.values())
    assert {name for name, d in droplets.items() if d["status"] == "off"} == {
        "acme-web-2",  # powered off at 14:00 on the 9th (its `_changes`)
        "globex-warehouse",
        "initech-tps-reports",
    }
    assert droplets["acme-web-1"]["region"]["slug"] == "syd1"
    assert droplets["acme-web-1"]["size_slug"] == "s-1vcpu-2gb"
    assert droplets["acme-web-1"]["snapshot_ids"] == [171204551]
    assert len(droplets["acme-web-1"]["backup_ids"]) == 4

    assert all(isinstance(s["id"], str) for s in snapshots)
    assert {s["resource_type"] for s in snapshots} == {"droplet", "volume"}
    assert [s["name"] for s in client.list_snapshots("volume")] == ["acme-data-weekly"]

    assert [v["name"] for v in volumes] == ["acme-data"]
    assert volumes[0]["droplet_ids"] == [droplets["acme-db-1"]["id"]]
    assert reserved_ips["203.0.113.10"]["droplet"] is None
    assert reserved_ips["198.51.100.20"]["droplet"]["name"] == "globex-api-1"
    assert {fw["name"] for fw in firewalls} == {"web-public", "db-private"}
    assert all(fw["inbound_rules"] and fw["droplet_ids"] for fw in firewalls)
    assert load_balancers[0]["name"] == "acme-lb"
    assert load_balancers[0]["size"] == "lb-small"
    assert len(domains) == 5
    for listing in (droplets, snapshots, volumes, reserved_ips, firewalls, load_balancers):
        assert metadata_keys(listing) == []


def test_projects_and_their_resources(client, emulator):
    projects = {p["name"]: p for p in client.list_projects()}
    resources = {
        name: [r["urn"] for r in client.list_project_resources(p["id"])]
        for name, p in projects.items()
    }

    assert set(projects) == {"Default", "Acme Corp", "Globex", "Initech"}
    assert projects["Default"]["is_default"] is True
    assert "do:space:acme-assets" in resources["Acme Corp"]
    assert "do:space:globex-exports" in resources["Globex"]
    assert any(urn.startswith("do:dbaas:") for urn in resources["Globex"])
    # DO's URN kinds: reserved IPs are still `floatingip`, snapshots are never in a project
    assert not any(urn.startswith("do:volumesnapshot:") for urn in resources["Acme Corp"])
    assert "do:floatingip:203.0.113.10" in resources["Acme Corp"]
    assert "do:domain:initech.example" in resources["Initech"]
    # unassigned resources live in the default project, with a kind the sync does not know
    assert "do:droplet:512340401" in resources["Default"]
    assert "do:domain:arcadia-ops.example" in resources["Default"]
    assert any(urn.startswith("do:vpc:") for urn in resources["Default"])
    item = client.list_project_resources(projects["Initech"]["id"])[0]
    assert item["status"] == "ok"
    assert all(
        isinstance(r["assigned_at"], str)
        for p in projects.values()
        for r in client.list_project_resources(p["id"])
    )
    assert item["links"]["self"].startswith(f"{emulator.base_url}/v2/")


def test_gpu_droplets_are_listed_only_when_asked_for(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    url = f"{emulator.base_url}/v2/droplets"

    default = requests.get(url, headers=headers, timeout=5).json()["droplets"]
    plain = requests.get(url, headers=headers, params={"type": "droplets"}, timeout=5).json()
    gpus = requests.get(url, headers=headers, params={"type": "gpus"}, timeout=5).json()
    bad = requests.get(url, headers=headers, params={"type": "tpus"}, timeout=5)

    assert "globex-ml-1" not in {d["name"] for d in default}
    assert plain["droplets"] == default
    assert [d["name"] for d in gpus["droplets"]] == ["globex-ml-1"]
    assert bad.status_code == 400 and "type" in bad.json()["message"]


def test_droplet_backups(client):
    backups = client.list_droplet_backups(ACME_WEB_1)

    assert [b["created_at"][:10] for b in backups] == [
        "2026-10-01",
        "2026-10-08",
        "2026-10-15",
        "2026-10-22",
    ]
    assert all(b["type"] == "backup" and b["name"].startswith("acme-web-1 ") for b in backups)
    assert client.list_droplet_backups(512340102) == []
    with pytest.raises(DONotFound):
        client.list_droplet_backups(ACME_WORKER_OLD)


# -- pagination ------------------------------------------------------------------------------------


def test_many_pages_are_listed_completely_and_in_order(sleeps):
    with run_emulator(generate_account(droplets=1234, seed=7)) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=sleeps.append)

        droplets = client.list_droplets()

        assert len(droplets) == 1234
        assert len({d["id"] for d in droplets}) == 1234
        assert [d["name"] for d in droplets[:2]] == ["bench-00000", "bench-00001"]
        assert emulator.request_count("/v2/droplets") == 8  # ceil(1234 / 200), + 1 for GPUs


def test_page_links_are_absolute_and_only_those_that_apply(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    url = f"{emulator.base_url}/v2/droplets"

    first = requests.get(url, headers=headers, params={"per_page": 3}, timeout=5).json()
    middle = requests.get(url, headers=headers, params={"page": 2, "per_page": 3}, timeout=5).json()
    last = requests.get(url, headers=headers, params={"page": 4, "per_page": 3}, timeout=5).json()
    default = requests.get(url, headers=headers, timeout=5).json()

    assert set(first["links"]["pages"]) == {"next", "last"}
    assert set(middle["links"]["pages"]) == {"first", "prev", "next", "last"}
    assert set(last["links"]["pages"]) == {"first", "prev"}
    assert middle["links"]["pages"]["next"] == f"{url}?page=3&per_page=3"
    assert [len(p["droplets"]) for p in (first, middle, last)] == [3, 3, 3]
    assert first["meta"] == {"total": 12}  # GPU droplets are listed apart (type=gpus)
    assert default["links"] == {}  # all 12 fit the default page size of 20


def test_snapshot_filter_keeps_its_query_on_every_page(emulator):
    headers = {"Authorization": f"Bearer {emulator.token}"}
    response = requests.get(
        f"{emulator.base_url}/v2/snapshots",
        headers=headers,
        params={"resource_type": "droplet", "per_page": 1},
        timeout=5,
    ).json()

    assert response["meta"]["total"] == 3
    assert "resource_type=droplet" in response["links"]["pages"]["next"]


# -- auth and errors -------------------------------------------------------------------------------


def test_requests_without_the_token_get_401(emulator):
    anonymous = requests.get(f"{emulator.base_url}/v2/droplets", timeout=5)
    wrong = DigitalOceanClient(emulator.base_url, "not-the-token")

    assert anonymous.status_code == 401
    assert anonymous.json()["id"] == "unauthorized"
    with pytest.raises(DOAuthError):
        wrong.list_droplets()


def test_unknown_paths_are_json_404(emulator):
    response = requests.get(
        f"{emulator.base_url}/v2/uptime/checks",
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json()["id"] == "not_found"


# -- fault injection -------------------------------------------------------------------------------


def test_a_429_storm_is_waited_out_honouring_retry_after(client, emulator, sleeps):
    emulator.faults.add(path_prefix="/v2/droplets", status=429, retry_after=1, times=3)

    droplets = client.list_droplets()

    assert len(droplets) == 13
    assert sleeps == [1.0, 1.0, 1.0]
    assert emulator.request_count("/v2/droplets", status=429) == 3
    assert emulator.request_count("/v2/droplets", status=200) == 2  # droplets, then GPU ones


def test_a_persistent_500_on_page_3_of_5_raises_and_returns_nothing(sleeps):
    with run_emulator(generate_account(droplets=1000, seed=3)) as emulator:
        emulator.faults.add(path_prefix="/v2/droplets", page=3, status=500, every=True)
        client = DigitalOceanClient(
            emulator.base_url, emulator.token, max_retries=2, sleep=sleeps.append
        )
        result = None

        with pytest.raises(DOServerError, match="page=3"):
            result = client.list_droplets()

        assert result is None
        assert emulator.request_count("/v2/droplets", status=500) == 3
        assert emulator.request_count("/v2/droplets", status=200) == 2  # pages 1 and 2


def test_a_single_500_mid_listing_is_retried_and_the_list_is_complete(sleeps):
    with run_emulator(generate_account(droplets=1000, seed=3)) as emulator:
        emulator.faults.add(path_prefix="/v2/droplets", page=3, status=500)
        client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=sleeps.append)

        assert len(client.list_droplets()) == 1000
        assert len(sleeps) == 1


def test_the_nth_request_fault(client, emulator):
    emulator.faults.add(path_prefix="/v2/domains", nth=2, status=503)

    client.list_domains()
    client.list_domains()

    statuses = [r.status for r in emulator.request_log if r.path == "/v2/domains"]
    assert statuses == [200, 503, 200]


def test_a_slow_page_times_out_and_is_retried(sleeps):
    with run_emulator(generate_account(droplets=500, seed=5)) as emulator:
        # The slow page sleeps far past the read timeout; the timeout itself is generous so a
        # busy CI machine does not time out the ordinary pages too.
        slow_page = emulator.faults.add(path_prefix="/v2/droplets", page=2, delay=6.0)
        client = DigitalOceanClient(
            emulator.base_url, emulator.token, timeout=(2, 1.5), sleep=sleeps.append
        )

        droplets = client.list_droplets()

        assert len(droplets) == 500
        assert slow_page.fired == 1
        assert len(sleeps) >= 1  # the timed-out page was retried
        answered = [r for r in emulator.request_log if parse_qs(r.query).get("page") == ["2"]]
        assert [r.status for r in answered] == [200]  # the slow answer is still sleeping


def test_a_garbage_body_is_a_bad_payload(client, emulator):
    emulator.faults.add(path_prefix="/v2/volumes", body="<html>upstream exploded</html>")

    with pytest.raises(DOBadPayload, match="upstream exploded"):
        client.list_volumes()


def test_faults_load_from_json_config():
    fixture = {**load_fixture(), "faults": [{"path_prefix": "/v2/firewalls", "status": 502}]}
    emulator = DigitalOceanEmulator(fixture, period=PERIOD)

    assert [f.status for f in emulator.faults.pending] == [502]
    with pytest.raises(ValueError, match="unknown keys"):
        emulator.faults.load([{"path": "/v2/droplets", "status": 500}])


# -- time: resources created and destroyed mid-period ----------------------------------------------


def test_the_clock_replays_the_month(client, emulator):
    def droplet_ids() -> set[int]:
        return {d["id"] for d in client.list_droplets()}

    globex = next(p for p in client.list_projects() if p["name"] == "Globex")

    emulator.set_clock(day(1))
    assert ACME_WORKER_OLD in droplet_ids()
    assert GLOBEX_BATCH_TMP not in droplet_ids()
    assert len(client.list_droplet_backups(ACME_WEB_1)) == 1

    emulator.set_clock(day(5))
    assert {ACME_WORKER_OLD, GLOBEX_BATCH_TMP} <= droplet_ids()
    globex_urns = {r["urn"] for r in client.list_project_resources(globex["id"])}
    assert f"do:droplet:{GLOBEX_BATCH_TMP}" in globex_urns

    emulator.set_clock(day(20))
    assert not {ACME_WORKER_OLD, GLOBEX_BATCH_TMP} & droplet_ids()
    globex_urns = {r["urn"] for r in client.list_project_resources(globex["id"])}
    assert f"do:droplet:{GLOBEX_BATCH_TMP}" not in globex_urns
    assert [e["type"] for e in client.list_billing_history()] == ["Payment"]  # not invoiced yet


def test_state_changes_are_served(client, emulator):
    emulator.state.update("droplets", 512340102, status="off")
    emulator.state.remove("droplets", 512340402)
    new = {**emulator.state.get("droplets", 512340401), "id": 600000001, "name": "new-box"}
    emulator.state.add("droplets", new)

    droplets = {d["name"]: d for d in client.list_droplets()}
    default = next(p for p in client.list_projects() if p["is_default"])
    default_urns = {r["urn"] for r in client.list_project_resources(default["id"])}

    assert droplets["acme-web-2"]["status"] == "off"
    assert "legacy-mail" not in droplets
    assert "do:droplet:512340402" not in default_urns
    assert "do:droplet:600000001" in default_urns  # unassigned -> default project


def test_create_project_persists_and_rejects_duplicates(client):
    project = client.create_project("skyai-internal", purpose="Operational / Developer tooling")

    assert project["name"] == "skyai-internal"
    assert project["is_default"] is False
    assert "skyai-internal" in {p["name"] for p in client.list_projects()}
    with pytest.raises(DOClientError) as excinfo:
        client.create_project("skyai-internal", purpose="again")
    assert excinfo.value.status == 409


# -- billing ---------------------------------------------------------------------------------------


def test_invoice_csv_lines_add_up_to_the_billing_history_amount(client):
    history = client.list_billing_history()
    invoices = [entry for entry in history if entry["type"] == "Invoice"]
    assert {entry["type"] for entry in history} == {"Invoice", "Payment"}
    assert len(invoices) == 1

    text = client.get_invoice_csv(invoices[0]["invoice_uuid"]).decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert tuple(csv.DictReader(io.StringIO(text)).fieldnames or ()) == CSV_HEADER
    assert sum(money(row["USD"]) for row in rows) == Decimal(invoices[0]["amount"])
    by_description = {row["description"]: row for row in rows}
    warehouse = by_description["globex-warehouse (m-24vcpu-192gb)"]
    assert warehouse["USD"] == "$1,008.00"
    assert by_description["acme-worker-old (s-1vcpu-1gb)"]["hours"] == "264"
    assert by_description["acme-worker-old (s-1vcpu-1gb)"]["end"] == "2026-10-12 00:00:00 +0000"
    assert by_description["globex-batch-tmp (s-4vcpu-8gb)"]["USD"] == "$15.43"  # 216h of $48
    tax = [row for row in rows if "GST" in row["description"]]
    assert len(tax) == 1
    assert tax[0]["hours"] == ""
    untaxed = sum(money(row["USD"]) for row in rows if row is not tax[0])
    assert money(tax[0]["USD"]) == (untaxed / 10).quantize(Decimal("0.01"))
    products = {row["product"] for row in rows}
    assert {"Droplet Snapshots", "Volume Snapshots", "Droplet Backups", "Spaces Subscription"} <= (
        products
    )


def test_invoice_summary_matches_the_csv(client, emulator):
    summary = client.get_invoice_summary(emulator.invoice.uuid)

    assert summary["billing_period"] == "2026-10"
    assert summary["amount"] == "6411.66"
    assert summary["taxes"]["amount"] == "582.88"
    assert Decimal(summary["product_charges"]["amount"]) + Decimal("582.88") == Decimal("6411.66")


def test_descriptions_with_commas_survive_csv_quoting():
    fixture = {
        "invoice": {
            "lines": [
                {"product": "Droplets", "description": "web, 1 (s-1vcpu-1gb)", "amount_usd": "6.00"}
            ],
            "tax": {"description": "GST (10%)", "rate": "0.10"},
        }
    }
    with run_emulator(fixture, period=PERIOD, clock=AFTER_MONTH_END) as emulator:
        text = (
            DigitalOceanClient(emulator.base_url, emulator.token)
            .get_invoice_csv(emulator.invoice.uuid)
            .decode()
        )

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["description"] for row in rows] == ["web, 1 (s-1vcpu-1gb)", "GST (10%)"]
    assert [row["USD"] for row in rows] == ["$6.00", "$0.60"]


def test_any_period_renders_its_own_invoice():
    february = DigitalOceanEmulator(period=dt.date(2026, 2, 1))
    october = DigitalOceanEmulator(period=PERIOD)

    assert february.invoice.uuid != october.invoice.uuid
    assert february.invoice.uuid == DigitalOceanEmulator(period=dt.date(2026, 2, 1)).invoice.uuid
    nightly = next(
        line for line in february.invoice.lines if line.description.startswith("acme-web-1-nightly")
    )
    assert nightly.hours == 27 * 24  # from the start of day 2 to the end of a 28-day month
    assert nightly.amount_cents == 93  # 0.96 * 648 / 672 = 0.9257, half-up


def test_an_invoice_before_its_issue_date_is_not_found(client, emulator):
    emulator.set_clock(day(30))

    with pytest.raises(DONotFound):
        client.get_invoice_csv(emulator.invoice.uuid)


# -- fixtures and serving --------------------------------------------------------------------------


def test_fixture_errors_name_the_entry():
    with pytest.raises(FixtureError, match="unknown fixture keys"):
        DigitalOceanEmulator({"droplet": []}, period=PERIOD)
    bad_day = {"droplets": [{"id": 1, "name": "x", "_lifetime": {"destroyed_day": 31}}]}
    with pytest.raises(FixtureError, match=r"droplets\[0\].*day 31"):
        DigitalOceanEmulator(bad_day, period=dt.date(2026, 9, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        DigitalOceanEmulator(period=PERIOD, clock=dt.datetime(2026, 10, 5))


def test_concurrent_clients_each_get_the_full_listing():
    with run_emulator(generate_account(droplets=2000, seed=11)) as emulator:
        counts: list[int] = []
        errors: list[Exception] = []

        def sync() -> None:
            try:
                counts.append(
                    len(DigitalOceanClient(emulator.base_url, emulator.token).list_droplets())
                )
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=sync) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert counts == [2000] * 4


def test_generated_accounts_are_deterministic():
    assert generate_account(droplets=50, seed=9) == generate_account(droplets=50, seed=9)
    assert generate_account(droplets=50, seed=9) != generate_account(droplets=50, seed=10)


# -- changes at an instant (`_changes`) ------------------------------------------------------------


def test_fixture_changes_take_effect_at_their_instant(client, emulator):
    """acme-web-2 off from 14:00 on the 9th, acme-data 200 GB from 12:00 on the 16th, and
    globex-api-2 in the Acme Corp project from 06:00 on the 20th (the default account)."""
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    assert emulator.change_instants() == [
        start + dt.timedelta(days=8, hours=14),
        start + dt.timedelta(days=15, hours=12),
        start + dt.timedelta(days=19, hours=6),
    ]

    def seen(moment):
        emulator.set_clock(moment)
        droplets = {d["name"]: d for d in client.list_droplets()}
        projects = {p["name"]: p["id"] for p in client.list_projects()}
        acme = [r["urn"] for r in client.list_project_resources(projects["Acme Corp"])]
        (volume,) = client.list_volumes()
        return droplets["acme-web-2"]["status"], volume["size_gigabytes"], acme

    before = seen(start + dt.timedelta(days=8, hours=13, minutes=59))
    assert before[:2] == ("active", 100) and "do:droplet:512340202" not in before[2]
    assert seen(start + dt.timedelta(days=8, hours=14))[0] == "off"
    assert seen(start + dt.timedelta(days=15, hours=12))[1] == 200
    assert "do:droplet:512340202" in seen(start + dt.timedelta(days=19, hours=6))[2]
    assert metadata_keys(client.list_droplets()) == []


def test_a_change_that_would_replace_the_id_is_refused():
    fixture = load_fixture()
    fixture["droplets"][0]["_changes"] = [{"day": 2, "time": "10:00", "set": {"id": 1}}]
    with pytest.raises(FixtureError, match="cannot change 'id'"):
        DigitalOceanEmulator(fixture=fixture, period=PERIOD)


@pytest.mark.parametrize(
    "changes",
    [
        {"day": 2},
        [{"day": 40, "set": {"status": "off"}}],
        [{"day": 2, "time": "25:00", "set": {"status": "off"}}],
        [{"day": 2, "set": {}}],
        [{"day": 2, "set": {"_secret": 1}}],
        [{"day": 2, "when": "x", "set": {"status": "off"}}],
    ],
)
def test_malformed_changes_are_refused_naming_the_entry(changes):
    fixture = load_fixture()
    fixture["droplets"][0]["_changes"] = changes
    with pytest.raises(FixtureError, match=r"droplets\[0\]\._changes"):
        DigitalOceanEmulator(fixture=fixture, period=PERIOD)


# -- billing insights (daily costs, issue 18) ------------------------------------------------------

INSIGHTS_URN = "do:team:2f1c9a4e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"


def _insights(emulator, start: str, end: str, urn: str = INSIGHTS_URN, **params):
    return requests.get(
        f"{emulator.base_url}/v2/billing/{urn}/insights/{start}/{end}",
        params=params,
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=5,
    )


def test_insights_are_the_invoice_lines_day_by_day(client, emulator):
    points = client.list_billing_insights(INSIGHTS_URN, PERIOD, dt.date(2026, 10, 31))

    web = [p for p in points if p["description"] == "acme-web-1 (s-1vcpu-2gb)"]
    # 12.00 a month = 0.43 a day (12 x 24 / 672 = 0.4286) for 28 days (672 h), then nothing.
    assert [p["total_amount"] for p in web] == ["0.43"] * 28 + ["0.00"] * 3
    assert (web[0]["sku"], web[0]["region"], web[0]["start_date"]) == (
        "1-DO-DROP-0109",
        "syd1",
        "2026-10-01",
    )
    worker = [p for p in points if p["description"] == "acme-worker-old (s-1vcpu-1gb)"]
    assert [p["start_date"] for p in worker][-1] == "2026-10-11"  # its line ends on day 12
    invoice = emulator.invoice
    net = Decimal(invoice.total_cents - invoice.tax_cents) / 100
    daily = sum(Decimal(p["total_amount"]) for p in points)
    assert daily - net == Decimal("0.04")  # per-day rounding: a few cents, always the same
    assert not [p for p in points if p["description"] == "GST (10%)"]  # tax is no usage


def test_insights_serve_only_days_that_have_ended(client, emulator):
    emulator.set_clock(day(15, hour=9))
    points = client.list_billing_insights(INSIGHTS_URN, PERIOD, dt.date(2026, 10, 31))
    assert max(p["start_date"] for p in points) == "2026-10-14"


def test_insights_are_page_numbered(emulator):
    first = _insights(emulator, "2026-10-01", "2026-10-02", per_page=5).json()
    last = _insights(emulator, "2026-10-01", "2026-10-02", per_page=5, page=100).json()
    assert (len(first["data_points"]), first["current_page"]) == (5, 1)
    assert first["total_pages"] == -(-first["total_items"] // 5)
    assert "links" not in first
    assert (last["data_points"], last["current_page"]) == ([], 100)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2026-10-31", "2026-10-01", "end_date must not be before start_date"),
        ("2026-10-01", "2026-12-01", "within 31 days"),
        ("yesterday", "2026-10-01", "start_date must be a date"),
        ("2026-10-01", "2026-10-32", "end_date must be a date"),
    ],
)
def test_bad_insight_dates_are_400_naming_the_field(emulator, start, end, words):
    response = _insights(emulator, start, end)
    assert response.status_code == 400
    assert words in response.json()["message"]


def test_another_accounts_insights_are_404(emulator):
    response = _insights(emulator, "2026-10-01", "2026-10-02", urn="do:team:someone-else")
    assert response.status_code == 404


def test_the_price_list_agrees_with_the_sizes_the_account_s_droplets_carry(client):
    """/v2/sizes is the price list cost-plus prices read (issue 18) and each droplet object
    embeds its size with prices: the emulator must not quote two prices for one size (an H100
    at USD 3.38 on /v2/sizes and 6.74 on its droplet once made the demo's cost-plus lose money)."""
    listed = {size["slug"]: size for size in client.list_sizes()}
    droplets = load_fixture()["droplets"]
    assert droplets
    for droplet in droplets:
        size = droplet["size"]
        assert size["slug"] in listed, size["slug"]
        for price in ("price_hourly", "price_monthly"):
            assert money(str(listed[size["slug"]][price])) == money(str(size[price])), (
                size["slug"],
                price,
            )
