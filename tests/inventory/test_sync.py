"""Inventory sync against the bundled DigitalOcean emulator (SPEC §4, §16)."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from django.db import connection

from integrations.digitalocean import DigitalOceanClient, DOAuthError, DOBadPayload, DOServerError
from integrations.digitalocean.sandbox import DigitalOceanEmulator, load_fixture, run_emulator
from inventory.models import CloudProject, CloudResource, CloudResourceEvent
from inventory.sync import INTERNAL_PROJECT_NAME, sync_all, sync_target

PERIOD = dt.date(2026, 4, 1)
# Mid-May: after the April invoice period, so the mid-April casualties are gone.
AFTER = dt.datetime(2026, 5, 15, 12, tzinfo=dt.UTC)


@pytest.fixture
def emulator():
    with run_emulator(DigitalOceanEmulator(period=PERIOD, clock=AFTER)) as running:
        yield running


def client_of(emulator, **kwargs) -> DigitalOceanClient:
    return DigitalOceanClient(
        emulator.base_url, emulator.token, sleep=lambda seconds: None, **kwargs
    )


def fixture_ids(key: str, id_field: str = "id") -> set[str]:
    fixture = load_fixture()
    return {
        str(item[id_field])
        for item in fixture[key]
        if "destroyed_day" not in (item.get("_lifetime") or {})
    }


@pytest.mark.django_db
def test_full_sync_populates_every_kind(emulator):
    results = sync_all(client=client_of(emulator), now=AFTER)
    assert not any(r.skipped for r in results)
    kinds = set(CloudResource.objects.values_list("kind", flat=True))
    assert {
        "droplet",
        "dns_zone",
        "volume",
        "snapshot",
        "floating_ip",
        "firewall",
        "load_balancer",
        "droplet_backup",
        "spaces_bucket",
        "managed_db",
    } <= kinds
    droplet_ids = set(
        CloudResource.objects.filter(kind="droplet").values_list("provider_id", flat=True)
    )
    assert droplet_ids == fixture_ids("droplets")
    assert CloudResource.objects.filter(kind="droplet_backup").exists()
    assert set(CloudResourceEvent.objects.values_list("type", flat=True)) >= {
        "discovered",
        "attributed",
    }


@pytest.mark.django_db
def test_projects_sync_attributes_resources_to_their_project(emulator):
    sync_all(client=client_of(emulator), now=AFTER)
    acme = CloudProject.objects.get(name="Acme Corp")
    acme.tenant_id = "acme"
    acme.save()
    sync_target("projects", client=client_of(emulator), now=AFTER)
    acme_droplets = CloudResource.objects.filter(kind="droplet", project=acme)
    assert acme_droplets.exists()
    assert set(acme_droplets.values_list("tenant_id", flat=True)) == {"acme"}
    # Backups follow their droplet.
    backups = CloudResource.objects.filter(kind="droplet_backup", deleted_at__isnull=True)
    for backup in backups:
        parent = CloudResource.objects.get(kind="droplet", provider_id=backup.attrs["droplet_id"])
        assert (backup.project_id, backup.tenant_id) == (parent.project_id, parent.tenant_id)


@pytest.mark.django_db
def test_urn_kinds_are_normalized_and_unknown_ones_kept(emulator, caplog):
    from inventory import normalize

    normalize._reported_unknown_kinds.clear()
    caplog.set_level(logging.INFO, logger="inventory.normalize")
    sync_all(client=client_of(emulator), now=AFTER)
    spaces = CloudResource.objects.filter(kind="spaces_bucket")
    assert spaces.exists() and all(r.project_id for r in spaces)
    assert CloudResource.objects.filter(kind="managed_db").exists()
    assert CloudResource.objects.filter(kind="vpc").exists()
    assert "unknown DigitalOcean URN kind 'vpc'" in caplog.text


@pytest.mark.django_db
def test_internal_project_is_bootstrapped_once(emulator):
    sync_target("projects", client=client_of(emulator), now=AFTER)
    sync_target("projects", client=client_of(emulator), now=AFTER)
    internal = CloudProject.objects.get(name=INTERNAL_PROJECT_NAME)
    assert (internal.tenant_id, internal.purpose) == ("skyai-internal", "internal")
    posts = [r for r in emulator.request_log if r.method == "POST" and r.path == "/v2/projects"]
    assert len(posts) == 1


@pytest.mark.django_db
def test_second_sync_with_nothing_changed_writes_zero_events(emulator):
    sync_all(client=client_of(emulator), now=AFTER)
    before = CloudResourceEvent.objects.count()
    results = sync_all(client=client_of(emulator), now=AFTER + dt.timedelta(minutes=15))
    assert CloudResourceEvent.objects.count() == before
    assert all(r.upsert.created == r.upsert.updated == r.upsert.restored == 0 for r in results)


@pytest.fixture
def paged_emulator():
    """900 droplets: five pages at the client's per_page=200."""
    from integrations.digitalocean.sandbox import generate_account

    with run_emulator(
        generate_account(droplets=900, seed=3), period=PERIOD, clock=AFTER
    ) as running:
        yield running


@pytest.mark.django_db
def test_page_3_of_5_failing_tombstones_nothing(paged_emulator):
    client = client_of(paged_emulator, max_retries=1)
    sync_target("droplet", client=client, now=AFTER)
    assert CloudResource.objects.filter(kind="droplet").count() == 900
    paged_emulator.faults.add(path_prefix="/v2/droplets", page=3, status=500, every=True)
    for _ in range(3):
        with pytest.raises(DOServerError):
            sync_target("droplet", client=client, now=AFTER)
    assert (
        CloudResource.objects.filter(kind="droplet", stale_strike_count=0, deleted_at=None).count()
        == 900
    )


@pytest.mark.django_db
def test_429_then_success_is_retried(emulator):
    emulator.faults.add(path_prefix="/v2/domains", status=429, retry_after=1, times=2)
    waits: list[float] = []
    client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=waits.append)
    result = sync_target("dns_zone", client=client, now=AFTER)
    assert result.upsert.created == len(fixture_ids("domains", "name"))
    assert waits[:2] == [1.0, 1.0]


@pytest.mark.django_db
def test_401_is_a_clear_error_without_retries(emulator):
    client = DigitalOceanClient(emulator.base_url, "wrong-token", sleep=lambda s: None)
    with pytest.raises(DOAuthError) as excinfo:
        sync_target("droplet", client=client, now=AFTER)
    assert "401" in str(excinfo.value)
    assert "wrong-token" not in str(excinfo.value)
    assert emulator.request_count("/v2/droplets") == 1


@pytest.mark.django_db
def test_garbage_page_fails_without_strikes(emulator):
    sync_target("volume", client=client_of(emulator), now=AFTER)
    emulator.faults.add(path_prefix="/v2/volumes", status=200, body="<html>oops</html>", every=True)
    with pytest.raises(DOBadPayload):
        sync_target("volume", client=client_of(emulator, max_retries=0), now=AFTER)
    assert not CloudResource.objects.filter(kind="volume", stale_strike_count__gt=0).exists()


@pytest.mark.django_db
def test_resource_missing_three_complete_syncs_is_tombstoned_and_restored(emulator):
    client = client_of(emulator)
    sync_target("dns_zone", client=client, now=AFTER)
    zone = CloudResource.objects.filter(kind="dns_zone").first()
    removed = emulator.state.remove("domains", zone.provider_id)
    for expected_strikes in (1, 2):
        sync_target("dns_zone", client=client, now=AFTER)
        zone.refresh_from_db()
        assert (zone.stale_strike_count, zone.deleted_at) == (expected_strikes, None)
    sync_target("dns_zone", client=client, now=AFTER)
    zone.refresh_from_db()
    assert zone.deleted_at is not None
    emulator.state.add("domains", removed)
    sync_target("dns_zone", client=client, now=AFTER)
    zone.refresh_from_db()
    assert zone.deleted_at is None
    assert list(zone.events.values_list("type", flat=True)) == ["discovered", "deleted", "restored"]


@pytest.mark.django_db
def test_destroyed_mid_month_resources_disappear_after_three_syncs():
    emulator = DigitalOceanEmulator(period=PERIOD, clock=dt.datetime(2026, 4, 2, tzinfo=dt.UTC))
    with run_emulator(emulator):
        client = client_of(emulator)
        sync_target("droplet", client=client, now=emulator.now)
        count_day_2 = CloudResource.objects.filter(kind="droplet").count()
        emulator.set_clock(AFTER)
        for _ in range(3):
            sync_target("droplet", client=client, now=AFTER)
    destroyed = CloudResource.objects.filter(kind="droplet", deleted_at__isnull=False)
    assert destroyed.count() == count_day_2 - len(fixture_ids("droplets"))
    assert destroyed.count() >= 1


def test_sync_task_without_a_token_logs_one_line_and_succeeds(settings, caplog):
    from inventory.tasks import sync

    settings.DO_API_TOKEN = settings.DO_TOKEN_SYNC = ""
    with caplog.at_level(logging.WARNING):
        result = sync.delay("droplet").get()
    assert result["skipped"]
    assert len([r for r in caplog.records if "no DigitalOcean token" in r.getMessage()]) == 1


@pytest.mark.django_db(transaction=True)
def test_two_syncs_of_the_same_kind_at_once_make_no_duplicates(emulator):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL-only")
    emulator.faults.add(path_prefix="/v2/droplets", delay=0.5, times=1)
    results, errors = [], []

    def run():
        try:
            results.append(sync_target("droplet", client=client_of(emulator), now=AFTER))
        except Exception as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(bool(r.skipped) for r in results) == [False, True]
    ids = list(CloudResource.objects.filter(kind="droplet").values_list("provider_id", flat=True))
    assert len(ids) == len(set(ids)) == len(fixture_ids("droplets"))
    assert not CloudResource.objects.filter(stale_strike_count__gt=0).exists()


VOLUME_SNAPSHOT = "44856780-e256-4e4b-9091-3a1f31064483"  # acme-data-weekly, of volume acme-data
ACME_DATA_VOLUME = "572d2d7e-36bf-4fec-a10f-65e67678cc69"


@pytest.mark.django_db
def test_a_volume_snapshot_takes_its_volumes_project_and_tenant(emulator):
    # DigitalOcean lists no snapshot in a project (there is no volumesnapshot URN kind).
    served = {
        item["urn"]
        for project in load_fixture()["projects"]
        for item in client_of(emulator).list_project_resources(project["id"])
    }
    assert not any(urn.startswith("do:volumesnapshot:") for urn in served)
    sync_all(client=client_of(emulator), now=AFTER)
    acme = CloudProject.objects.get(name="Acme Corp")
    acme.tenant_id = "acme"
    acme.save()
    sync_target("projects", client=client_of(emulator), now=AFTER)

    snapshot = CloudResource.objects.get(kind="snapshot", provider_id=VOLUME_SNAPSHOT)
    volume = CloudResource.objects.get(kind="volume", provider_id=ACME_DATA_VOLUME)
    assert (volume.project, volume.tenant_id) == (acme, "acme")
    assert (snapshot.project, snapshot.tenant_id) == (acme, "acme")


@pytest.mark.django_db
def test_a_project_resource_digitalocean_no_longer_finds_keeps_nothing_alive():
    fixture = load_fixture()
    globex = next(p["id"] for p in fixture["projects"] if p["name"] == "Globex")
    gone_db = "0f3e2c1a-0000-4000-8000-00000000dead"
    fixture["project_resources"].append(
        {"project_id": globex, "urn": f"do:dbaas:{gone_db}", "status": "not_found"}
    )
    with run_emulator(DigitalOceanEmulator(fixture, period=PERIOD, clock=AFTER)) as running:
        sync_all(client=client_of(running), now=AFTER)

    assert not CloudResource.objects.filter(provider_id=gone_db).exists()
    assert CloudResource.objects.filter(kind="managed_db").exists()  # the ok one still is


@pytest.mark.django_db
def test_gpu_droplets_reach_inventory_with_their_project(emulator):
    sync_all(client=client_of(emulator), now=AFTER)

    gpu = CloudResource.objects.get(kind="droplet", name="globex-ml-1")
    assert (gpu.size_slug, gpu.region) == ("gpu-h100x1-80gb", "tor1")
    assert (gpu.attrs["gpu_count"], gpu.attrs["gpu_model"]) == (1, "nvidia_h100")
    assert gpu.project.name == "Globex"


@pytest.mark.django_db
def test_the_backups_sync_is_one_image_listing_whatever_the_number_of_droplets(emulator):
    sync_all(client=client_of(emulator), now=AFTER)
    before = len(emulator.request_log)

    result = sync_target("backups", client=client_of(emulator), now=AFTER)

    served = emulator.request_log[before:]
    assert [(r.path, r.query) for r in served] == [("/v2/images", "per_page=200&private=true")]
    assert result.listed == CloudResource.objects.filter(kind="droplet_backup").count() > 0
    for backup in CloudResource.objects.filter(kind="droplet_backup"):
        droplet = CloudResource.objects.get(kind="droplet", provider_id=backup.attrs["droplet_id"])
        assert backup.provider_id in droplet.attrs["backup_ids"]


@pytest.mark.django_db
def test_no_droplet_with_backups_means_no_backup_request():
    fixture = load_fixture()
    for droplet in fixture["droplets"]:
        droplet.pop("_backups", None)
        droplet["features"] = [f for f in droplet["features"] if f != "backups"]
    with run_emulator(DigitalOceanEmulator(fixture, period=PERIOD, clock=AFTER)) as running:
        sync_target("droplet", client=client_of(running), now=AFTER)
        result = sync_target("backups", client=client_of(running), now=AFTER)
        assert running.request_count("/v2/images") == 0
    assert result.listed == 0


ORDERS_DB = "5c31d441-2f63-4fdf-b3df-01f87ad93428"
ACME_K8S = "8a3f2e10-7c5d-4b9e-a1f6-2d4c6e8b0a13"


@pytest.mark.django_db
def test_a_placeholder_becomes_the_real_row_when_its_dedicated_sync_knows_it(emulator):
    from inventory import normalize
    from inventory.services import upsert_resources

    # What the projects walk left before databases had their own sync: a row named by its id.
    upsert_resources([normalize.placeholder(normalize.parse_urn(f"do:dbaas:{ORDERS_DB}"))])
    placeholder = CloudResource.objects.get(kind="managed_db", provider_id=ORDERS_DB)
    assert placeholder.name == ORDERS_DB

    sync_all(client=client_of(emulator), now=AFTER)

    [database] = CloudResource.objects.filter(kind="managed_db", provider_id=ORDERS_DB)
    assert database.pk == placeholder.pk  # the same row, upgraded; no duplicate
    assert (database.name, database.size_slug, database.region) == (
        "globex-orders-db",
        "db-s-1vcpu-2gb",
        "sgp1",
    )
    assert (database.attrs["engine"], database.attrs["num_nodes"]) == ("pg", 1)
    assert database.project.name == "Globex"


@pytest.mark.django_db
def test_kubernetes_workers_belong_to_their_clusters_project_and_tenant(emulator):
    sync_all(client=client_of(emulator), now=AFTER)
    acme = CloudProject.objects.get(name="Acme Corp")
    acme.tenant_id = "acme"
    acme.save()
    sync_target("projects", client=client_of(emulator), now=AFTER)

    cluster = CloudResource.objects.get(kind="k8s_cluster", provider_id=ACME_K8S)
    assert (cluster.name, cluster.attrs["node_count"], cluster.tenant_id) == ("acme-k8s", 2, "acme")
    workers = CloudResource.objects.filter(
        kind="droplet", attrs__tags__contains=[f"k8s:{ACME_K8S}"]
    )
    assert workers.count() == 2
    # DigitalOcean lists them in the default project; they are the cluster's all the same
    assert {(w.project_id, w.tenant_id) for w in workers} == {(acme.pk, "acme")}


@pytest.mark.django_db
def test_apps_registry_and_every_new_kind_reach_inventory_with_a_project(emulator):
    sync_all(client=client_of(emulator), now=AFTER)

    app = CloudResource.objects.get(kind="app")
    assert (app.name, app.size_slug, app.project.name) == ("initech-portal", "basic", "Initech")
    assert app.attrs["components"][0]["instance_size_slug"] == "apps-s-1vcpu-1gb"
    registry = CloudResource.objects.get(kind="container_registry")
    assert (registry.name, registry.size_slug) == ("arcadia", "basic")
    assert registry.project.name == INTERNAL_PROJECT_NAME  # account-level
    unplaced = CloudResource.objects.filter(deleted_at__isnull=True, project__isnull=True)
    # firewalls cost nothing and DigitalOcean puts them in no project
    assert list(unplaced.exclude(kind="firewall").values_list("kind", "name")) == []


def test_reserved_ipv6_urn_kinds_are_normalized():
    from inventory import normalize

    for urn in ("do:reservedipv6:2a03:b0c0:3::1", "do:floatingipv6:2a03:b0c0:3::1"):
        parsed = normalize.parse_urn(urn)
        assert (parsed.kind, parsed.provider_id, parsed.known) == (
            "reserved_ipv6",
            "2a03:b0c0:3::1",
            True,
        )
