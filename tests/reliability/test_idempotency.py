"""Idempotency-Key against the outside probe's classes (issue 14, items 7-9): a key whose worker
was killed mid-request, keys of different callers that shared a scope, and methods or routes
the API does not serve.

The killed worker is real: a gunicorn master and worker on the PostgreSQL test database, the
request held inside the view by a row lock the test takes on the deployment it must change, the
worker SIGKILLed. Nothing of ours is patched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from arcadia_cloud.auth import mint_token
from arcadia_cloud.models import IdempotencyKey
from catalog.models import Plan
from deployments.models import Deployment, DeploymentEvent
from tests import urls_probe
from tests.conftest import TENANT_A, make_api_client
from tests.deployments.factories import make_deployment
from tests.reliability.helpers import subprocess_database_url, wait_until
from tests.services import ROOT, gunicorn_server

PROBE_BODY = {"name": "web", "qty": 1}


def keyed_post(client, path: str, body: dict, key: str):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


@pytest.fixture
def probe_urls(settings):
    settings.ROOT_URLCONF = "tests.urls_probe"
    urls_probe.CALLS["count"] = 0


# -- 7. A key whose request can no longer be running is retryable ---------------------------------


def _requests_waiting_on_a_lock() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ["%cloud_deployments%FOR %UPDATE%"],
        )
        return [row[0] for row in cursor.fetchall()]


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_a_key_whose_worker_was_killed_mid_request_is_run_again_and_written_once(tmp_path):
    """A keyed `pause` waits inside the view for the deployment's row (the test holds it). While
    its worker lives, a retry is 409 in progress. The worker is SIGKILLed; its transaction dies
    with its connection, writing nothing; the master boots a new worker; the retry with the
    same key runs (not 409, not a replay), and the pause is written exactly once."""
    if connection.vendor != "postgresql":
        pytest.skip("the server needs the PostgreSQL test database")
    deployment = make_deployment(tenant_id=TENANT_A)
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    body = {"to_state": "paused", "reason": "worker killed mid-request"}
    token = mint_token(tenant_id=TENANT_A, roles=["tenant_user"], sub="alice")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "pause-after-a-crash"}
    database_url = subprocess_database_url()
    env = {"DATABASE_URL": database_url, "ARCADIA_JWT_SECRET": settings.ARCADIA_JWT_SECRET}

    def send(timeout: float = 30):
        return requests.post(server.url + path, json=body, headers=headers, timeout=timeout)

    with (
        gunicorn_server(env=env, log=tmp_path / "gunicorn.log") as server,
        ThreadPoolExecutor(max_workers=1) as pool,
        psycopg.connect(database_url) as blocker,  # its transaction holds the row until rollback
    ):
        try:
            blocker.execute(
                "SELECT id FROM cloud_deployments WHERE id = %s FOR UPDATE", [deployment.pk]
            )
            first = pool.submit(send, 60)
            wait_until(
                lambda: len(_requests_waiting_on_a_lock()) == 1,
                timeout=30,
                what="the keyed request to wait for the deployment row inside the view",
            )
            [owner_backend] = _requests_waiting_on_a_lock()

            in_progress = send()  # the owner is alive: told to retry later, nothing run
            assert in_progress.status_code == 409, in_progress.text
            assert in_progress.json()["error"]["code"] == "idempotency_in_progress"

            [worker] = server.worker_pids()
            os.kill(worker, signal.SIGKILL)
            with pytest.raises(requests.ConnectionError):
                first.result(timeout=30)
            blocker.rollback()
            # The dead worker's PostgreSQL session ends at its next read from the gone client,
            # rolling its transaction back: from then on its request can no longer be running.
            wait_until(
                lambda: not _backend_alive(owner_backend),
                timeout=30,
                what="the killed worker's database session to end",
            )
            assert Deployment.objects.get(pk=deployment.pk).state == "active"

            retried = send()
            again = send()
            assert server.worker_pids()[0] == worker and len(server.worker_pids()) == 2
        except Exception:
            blocker.rollback()
            print(server.log_path.read_text())
            raise

    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers  # run, not replayed from nowhere
    assert retried.json()["state"] == "paused"
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == retried.json()
    assert Deployment.objects.get(pk=deployment.pk).state == "paused"
    assert DeploymentEvent.objects.filter(deployment=deployment, to_state="paused").count() == 1
    record = IdempotencyKey.objects.get(key="pause-after-a-crash")
    assert record.state == IdempotencyKey.State.COMPLETED and record.response_status == 200


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_owner_is_alive_is_409_even_past_the_lease(settings):
    """On PostgreSQL the owner's lock decides, not the clock: a request running longer than the
    lease is never run a second time by a retry."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    settings.IDEMPOTENCY_LEASE_SECONDS = 0
    deployment = make_deployment(tenant_id=TENANT_A)
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    body = {"to_state": "paused", "reason": "slow"}
    blocker = psycopg.connect(subprocess_database_url())
    blocker.execute("SELECT id FROM cloud_deployments WHERE id = %s FOR UPDATE", [deployment.pk])

    def owner():
        try:
            return keyed_post(
                make_api_client(TENANT_A, ["tenant_user"], sub="alice"), path, body, "slow-1"
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(owner)
        try:
            wait_until(
                lambda: len(_requests_waiting_on_a_lock()) == 1,
                timeout=30,
                what="the owner to wait for the deployment row",
            )
            retry = keyed_post(
                make_api_client(TENANT_A, ["tenant_user"], sub="alice"), path, body, "slow-1"
            )
        finally:
            blocker.rollback()
            blocker.close()
        owner_response = first.result(timeout=30)

    assert retry.status_code == 409 and retry.json()["error"]["code"] == "idempotency_in_progress"
    assert owner_response.status_code == 200
    assert DeploymentEvent.objects.filter(deployment=deployment, to_state="paused").count() == 1


@pytest.mark.django_db
def test_a_server_error_with_a_key_leaves_neither_its_writes_nor_the_key(probe_urls, tenant_a_api):
    """A 5xx is not recorded, so the retry runs again; on PostgreSQL the failed run's writes
    are undone with it, so the retry does not find (and repeat) them."""
    if connection.vendor != "postgresql":
        pytest.skip("the request's transaction is PostgreSQL's")
    for attempt in (1, 2):
        response = keyed_post(tenant_a_api, "/api/probe/write-then-fail", {}, "flaky-1")
        assert response.status_code == 503
        assert "Idempotent-Replayed" not in response
        assert urls_probe.CALLS["count"] == attempt  # run again, not replayed
    assert not Plan.objects.filter(code__startswith="probe-").exists()
    assert not IdempotencyKey.objects.exists()


SQLITE_LEASE_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json
    import django
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from arcadia_cloud.auth import mint_token
    from arcadia_cloud.idempotency import caller_scope, request_fingerprint
    from arcadia_cloud.models import IdempotencyKey
    from deployments.models import DeploymentEvent
    from deployments.services import deployment_create

    assert connection.vendor == "sqlite", connection.vendor
    call_command("migrate", verbosity=0)
    token = mint_token(tenant_id="acme", roles=["tenant_user"], sub="alice")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    scope = caller_scope(tenant_id="acme", subject="alice", roles=["tenant_user"])
    out = {}
    for name, lease_left in (("expired", -1), ("live", 60)):
        deployment = deployment_create(
            tenant_id="acme", slug=f"shop-{name}", display_name="Shop", actor="test"
        )
        path = f"/api/v1/deployments/{deployment.pk}/transition"
        body = json.dumps({"to_state": "paused", "reason": name})
        key = f"pause-{name}"
        # What a worker killed mid-request leaves behind: its key in progress, nothing written,
        # the lease it took running out `lease_left` seconds from now.
        now = timezone.now()
        IdempotencyKey.objects.create(
            scope=scope,
            key=key,
            request_fingerprint=request_fingerprint("POST", path, body.encode()),
            expires_at=now + dt.timedelta(hours=24),
            lease_expires_at=now + dt.timedelta(seconds=lease_left),
        )
        retry = client.post(
            path, body, content_type="application/json", headers={"Idempotency-Key": key}
        )
        out[name] = {
            "status": retry.status_code,
            "code": retry.json().get("error", {}).get("code"),
            "paused_events": DeploymentEvent.objects.filter(
                deployment=deployment, to_state="paused"
            ).count(),
            "state": IdempotencyKey.objects.get(key=key).state,
        }
    print(json.dumps(out))
    """
)


def test_without_row_locks_an_in_progress_key_is_retryable_once_its_lease_ran_out(tmp_path):
    """The SQLite quick start has no row locks: the lease (IDEMPOTENCY_LEASE_SECONDS) decides.
    Run in a process of its own on a fresh SQLite database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(ARCADIA_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="arcadia_cloud.settings")
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_LEASE_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["expired"] == {
        "status": 200,
        "code": None,
        "paused_events": 1,
        "state": "completed",
    }
    assert outcome["live"] == {
        "status": 409,
        "code": "idempotency_in_progress",
        "paused_events": 0,
        "state": "in_progress",
    }


# -- 8. A response is replayed only to the caller that caused it ----------------------------------


def test_the_scope_is_unambiguous_over_tenant_subject_and_roles():
    from arcadia_cloud.idempotency import caller_scope

    # The old scope joined tenant and subject with \x1f, which a claim may contain.
    assert caller_scope(tenant_id="acme\x1fops", subject="1", roles=[]) != caller_scope(
        tenant_id="acme", subject="ops\x1f1", roles=[]
    )
    assert caller_scope(tenant_id="acme", subject="ops", roles=["tenant_user"]) != caller_scope(
        tenant_id="acme", subject="ops", roles=["tenant_user", "platform_admin"]
    )
    # Role order and repeats do not make another caller.
    assert caller_scope(tenant_id="acme", subject="ops", roles=["b", "a", "a"]) == caller_scope(
        tenant_id="acme", subject="ops", roles=["a", "b"]
    )


@pytest.mark.django_db
def test_callers_whose_claims_join_to_the_same_text_do_not_share_keys(probe_urls):
    """The old scope's separator cannot even reach the scope now: a claim holding a control
    character is refused at authentication (401), records no key and replays nothing."""
    from arcadia_cloud.models import IdempotencyKey

    first = make_api_client("acme", ["tenant_user"], sub="ops\x1f1")
    second = make_api_client("acme\x1fops", ["tenant_user"], sub="1")
    for caller in (first, second):
        response = keyed_post(caller, "/api/probe/write", PROBE_BODY, "same-key")
        assert response.status_code == 401, response.content
        assert "Idempotent-Replayed" not in response
    assert urls_probe.CALLS["count"] == 0
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_an_admins_response_is_not_replayed_to_a_gateway_token_of_the_same_subject():
    admin = make_api_client("platform-admin", ["platform_admin"], sub="svc")
    gateway = make_api_client("platform-admin", ["llm_gateway"], sub="svc")
    body = {"tenant_id": TENANT_A, "slug": "shop", "display_name": "Shop"}

    created = keyed_post(admin, "/api/v1/deployments", body, "create-shop")
    replay_attempt = keyed_post(gateway, "/api/v1/deployments", body, "create-shop")

    assert created.status_code == 201
    assert replay_attempt.status_code == 403, replay_attempt.content  # gateway-only token
    assert "Idempotent-Replayed" not in replay_attempt
    assert Deployment.objects.filter(slug="shop").count() == 1


@pytest.mark.django_db
def test_a_403_cached_for_a_tenant_user_is_not_replayed_to_an_admin_of_the_same_subject():
    tenant_user = make_api_client("platform-admin", ["tenant_user"], sub="ops-1")
    admin = make_api_client("platform-admin", ["platform_admin"], sub="ops-1")
    body = {"code": "scale", "name": "Scale"}

    refused = keyed_post(tenant_user, "/api/v1/catalog/plans", body, "new-plan")
    created = keyed_post(admin, "/api/v1/catalog/plans", body, "new-plan")

    assert refused.status_code == 403
    assert created.status_code == 201, created.content
    assert "Idempotent-Replayed" not in created
    assert Plan.objects.filter(code="scale").count() == 1
    # Each caller keeps its own answer.
    assert keyed_post(tenant_user, "/api/v1/catalog/plans", body, "new-plan").status_code == 403
    assert keyed_post(admin, "/api/v1/catalog/plans", body, "new-plan").status_code == 201


# -- 9. The route and the method come before the key ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_method_the_route_does_not_serve_is_405_with_a_key_and_records_nothing(
    tenant_a_api, method
):
    deployment = make_deployment(tenant_id=TENANT_A)
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    body = {"to_state": "paused", "reason": "x"}
    assert keyed_post(tenant_a_api, path, body, "k-1").status_code == 200
    recorded = list(IdempotencyKey.objects.values_list("pk", "state", "response_status"))

    for key in ("k-1", "k-2"):  # a key already used for the POST, and a fresh one
        response = getattr(tenant_a_api, method)(
            path, data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert response.status_code == 405, response.content
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert "Idempotent-Replayed" not in response

    assert list(IdempotencyKey.objects.values_list("pk", "state", "response_status")) == recorded


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/no-such-route", "/api/v1/deployments/1/no-such-action"])
def test_a_route_that_does_not_exist_is_404_with_a_key_and_records_nothing(tenant_a_api, path):
    deployment = make_deployment(tenant_id=TENANT_A)
    keyed_post(
        tenant_a_api,
        f"/api/v1/deployments/{deployment.pk}/transition",
        {"to_state": "paused", "reason": "x"},
        "k-1",
    )
    recorded = IdempotencyKey.objects.count()
    for key in ("k-1", "k-2", "k" * 300):  # used, fresh, and one too long to be a key
        response = keyed_post(tenant_a_api, path, {"a": 1}, key)
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert IdempotencyKey.objects.count() == recorded


def test_the_method_check_reads_the_views_own_declarations():
    from arcadia_cloud.idempotency import serves

    assert serves("POST", "/api/v1/deployments")
    assert not serves("PUT", "/api/v1/deployments")
    assert serves("PUT", "/api/v1/catalog/versions/1/items")
    assert not serves("POST", "/api/v1/catalog/versions/1/items")
    assert not serves("POST", "/api/v1/nowhere")


@pytest.mark.django_db
def test_every_operation_that_answers_422_documents_it(client, admin_api, gateway_api):
    """Each view that can reach an InvalidStateChange (grep: deployment_transition,
    plan_version_publish, the invoice status services, llm_usage_events_record) is driven to
    its 422 through the API, and its operation documents 422; no other operation claims one."""
    from catalog.models import PlanVersion
    from tests.invoicing.factories import make_invoice, seed_catalog
    from tests.invoicing.usage.test_api import event

    seed_catalog()
    version = PlanVersion.objects.filter(status="active").first()
    deployment = make_deployment(tenant_id=TENANT_A)
    closed = make_deployment(tenant_id=TENANT_A, llm_mode="none")
    issued = make_invoice("tenant-x", status="issued")
    draft = make_invoice("tenant-y")
    paid = make_invoice("tenant-z", status="paid")
    probes = {
        "/api/v1/deployments/{id}/transition": (
            admin_api,
            f"/api/v1/deployments/{deployment.pk}/transition",
            {"to_state": "trial"},
        ),
        "/api/v1/catalog/versions/{version_id}/publish": (
            admin_api,
            f"/api/v1/catalog/versions/{version.pk}/publish",
            None,
        ),
        "/api/v1/invoices/{id}/issue": (admin_api, f"/api/v1/invoices/{issued.pk}/issue", None),
        "/api/v1/invoices/{id}/mark-paid": (
            admin_api,
            f"/api/v1/invoices/{draft.pk}/mark-paid",
            {},
        ),
        "/api/v1/invoices/{id}/void": (
            admin_api,
            f"/api/v1/invoices/{paid.pk}/void",
            {"reason": "wrong customer"},
        ),
        "/api/v1/invoices/{id}/credit-notes": (
            admin_api,
            f"/api/v1/invoices/{draft.pk}/credit-notes",
            {"reason": "a draft is regenerated, not credited"},
        ),
        "/api/v1/integrations/llm-usage": (
            gateway_api,
            "/api/v1/integrations/llm-usage",
            {"events": [event(closed)]},
        ),
    }
    schema = client.get("/api/schema/", {"format": "json"}).json()
    documented = {
        path
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "422" in operation.get("responses", {})
    }
    for template, (api, path, body) in probes.items():
        response = api.post(path, data=json.dumps(body or {}), content_type="application/json")
        assert response.status_code == 422, (template, response.content)
        assert response.json()["error"]["code"] in {"invalid_state_change", "usage_overflow"}
    assert documented == set(probes)
