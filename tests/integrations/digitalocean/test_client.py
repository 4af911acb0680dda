"""DigitalOcean client: pagination, retries, typed errors and token handling (HTTP faked)."""

from __future__ import annotations

import io
import logging
import time

import pytest
import requests
import responses
from responses import matchers

from integrations.digitalocean import (
    DigitalOceanClient,
    DOAuthError,
    DOBadPayload,
    DOClientError,
    DONotFound,
    DORateLimited,
    DOResponseTooLarge,
    DOServerError,
    client_for,
)

BASE = "https://api.do.test"
TOKEN = "dop_v1_s3cr3t-token-value"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps) -> DigitalOceanClient:
    return DigitalOceanClient(BASE, TOKEN, max_retries=3, sleep=sleeps.append)


def page(key: str, items: list[dict], next_url: str | None = None, **extra) -> dict:
    links = {"pages": {"next": next_url, "last": next_url}} if next_url else {}
    return {key: items, "links": links, "meta": {"total": extra.get("total", len(items))}}


def query(**params) -> list:
    return [matchers.query_param_matcher({key: str(value) for key, value in params.items()})]


# -- pagination ------------------------------------------------------------------------------------


@responses.activate
def test_listing_follows_next_links_until_the_last_page(client):
    page2 = f"{BASE}/v2/droplets?page=2&per_page=200"
    page3 = f"{BASE}/v2/droplets?page=3&per_page=200"
    responses.get(
        f"{BASE}/v2/droplets",
        json=page("droplets", [{"id": 1}, {"id": 2}], page2, total=5),
        match=query(per_page=200),
    )
    responses.get(
        f"{BASE}/v2/droplets",
        json=page("droplets", [{"id": 3}, {"id": 4}], page3, total=5),
        match=query(page=2, per_page=200),
    )
    last = {"droplets": [{"id": 5}], "links": {"pages": {"first": BASE, "prev": page2}}}
    responses.get(f"{BASE}/v2/droplets", json=last, match=query(page=3, per_page=200))
    # GPU droplets are listed only when asked for (OpenAPI droplets_list, `type`)
    gpus = page("droplets", [{"id": 9, "gpu_info": {"count": 1}}], total=1)
    responses.get(f"{BASE}/v2/droplets", json=gpus, match=query(per_page=200, type="gpus"))

    droplets = client.list_droplets()

    assert [d["id"] for d in droplets] == [1, 2, 3, 4, 5, 9]
    assert len(responses.calls) == 4
    for call in responses.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "links",
    [{}, {"pages": {}}, None],
    ids=["empty-links", "empty-pages", "no-links"],
)
@responses.activate
def test_a_page_without_next_link_is_the_last_page(client, links):
    body = {"domains": [{"name": "acme.example"}], "meta": {"total": 1}}
    if links is not None:
        body["links"] = links
    responses.get(f"{BASE}/v2/domains", json=body)

    assert client.list_domains() == [{"name": "acme.example"}]
    assert len(responses.calls) == 1


@responses.activate
def test_a_failure_on_a_later_page_raises_instead_of_returning_a_partial_list(client, sleeps):
    responses.get(
        f"{BASE}/v2/volumes",
        json=page("volumes", [{"id": "a"}], f"{BASE}/v2/volumes?page=2&per_page=200"),
        match=query(per_page=200),
    )
    responses.get(
        f"{BASE}/v2/volumes",
        json={"id": "server_error", "message": "boom"},
        status=500,
        match=query(page=2, per_page=200),
    )

    with pytest.raises(DOServerError):
        client.list_volumes()


@responses.activate
def test_next_link_to_another_host_is_refused_so_the_token_never_leaves(client):
    responses.get(
        f"{BASE}/v2/droplets",
        json=page("droplets", [{"id": 1}], "https://evil.example/v2/droplets?page=2"),
    )

    with pytest.raises(DOBadPayload, match="another host"):
        client.list_droplets()
    assert len(responses.calls) == 1


@responses.activate
def test_snapshot_filter_is_sent_and_validated(client):
    responses.get(
        f"{BASE}/v2/snapshots",
        json=page("snapshots", [{"id": "9", "resource_type": "volume"}]),
        match=query(per_page=200, resource_type="volume"),
    )

    assert client.list_snapshots(resource_type="volume")[0]["id"] == "9"
    with pytest.raises(ValueError, match="resource_type"):
        client.list_snapshots(resource_type="image")


# -- retries ---------------------------------------------------------------------------------------


@responses.activate
def test_429_waits_for_retry_after_then_succeeds(client, sleeps):
    responses.get(f"{BASE}/v2/firewalls", status=429, headers={"Retry-After": "3"}, json={})
    responses.get(f"{BASE}/v2/firewalls", json=page("firewalls", [{"id": "fw"}]))

    assert client.list_firewalls() == [{"id": "fw"}]
    assert sleeps == [3.0]


@responses.activate
def test_429_without_retry_after_waits_until_ratelimit_reset(client, sleeps):
    reset = int(time.time()) + 7
    responses.get(
        f"{BASE}/v2/load_balancers", status=429, headers={"ratelimit-reset": str(reset)}, json={}
    )
    responses.get(f"{BASE}/v2/load_balancers", json=page("load_balancers", []))

    assert client.list_load_balancers() == []
    assert len(sleeps) == 1
    assert 5.0 < sleeps[0] <= 7.0


@responses.activate
def test_500_is_retried_with_backoff_then_succeeds(client, sleeps):
    responses.get(f"{BASE}/v2/projects", status=500, json={"id": "server_error", "message": "x"})
    responses.get(f"{BASE}/v2/projects", json=page("projects", [{"id": "p"}]))

    assert client.list_projects() == [{"id": "p"}]
    assert len(responses.calls) == 2
    assert len(sleeps) == 1
    assert 0.5 <= sleeps[0] < 1.0


@responses.activate
def test_persistent_500_gives_up_after_max_retries(client, sleeps):
    responses.get(f"{BASE}/v2/projects", status=503, json={"id": "unavailable", "message": "down"})

    with pytest.raises(DOServerError) as excinfo:
        client.list_projects()

    assert len(responses.calls) == 4  # one try + max_retries=3
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # exponential backoff grows
    assert excinfo.value.status == 503
    assert "GET /v2/projects?per_page=200" in str(excinfo.value)
    assert "503" in str(excinfo.value)
    assert "unavailable: down" in str(excinfo.value)


@responses.activate
def test_total_wait_budget_bounds_retries(sleeps):
    client = DigitalOceanClient(BASE, TOKEN, max_retries=10, max_total_wait=25, sleep=sleeps.append)
    responses.get(f"{BASE}/v2/droplets", status=429, headers={"Retry-After": "20"}, json={})

    with pytest.raises(DORateLimited) as excinfo:
        client.list_droplets()

    assert sleeps == [20.0]  # a second 20s wait would exceed the 25s budget
    assert len(responses.calls) == 2
    assert excinfo.value.status == 429


@responses.activate
def test_connection_errors_are_retried(client, sleeps):
    responses.get(f"{BASE}/v2/domains", body=requests.ConnectionError("connection refused"))
    responses.get(f"{BASE}/v2/domains", json=page("domains", [{"name": "a.example"}]))

    assert client.list_domains() == [{"name": "a.example"}]
    assert len(sleeps) == 1


@responses.activate
def test_persistent_timeouts_raise_server_error(client):
    responses.get(f"{BASE}/v2/domains", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(DOServerError, match="timeout"):
        client.list_domains()
    assert len(responses.calls) == 4


# -- errors that are never retried -----------------------------------------------------------------


@responses.activate
def test_401_raises_auth_error_after_exactly_one_call(client, sleeps):
    responses.get(
        f"{BASE}/v2/droplets",
        status=401,
        json={"id": "unauthorized", "message": "Unable to authenticate you"},
    )

    with pytest.raises(DOAuthError) as excinfo:
        client.list_droplets()

    assert len(responses.calls) == 1
    assert sleeps == []
    assert excinfo.value.status == 401
    assert "Unable to authenticate you" in str(excinfo.value)


@responses.activate
def test_403_is_an_auth_error_and_404_not_found(client):
    responses.get(f"{BASE}/v2/customers/my/balance", status=403, json={"id": "forbidden"})
    responses.get(
        f"{BASE}/v2/droplets/77/backups", status=404, json={"id": "not_found", "message": "gone"}
    )

    with pytest.raises(DOAuthError):
        client.get_balance()
    with pytest.raises(DONotFound):
        client.list_droplet_backups(77)
    assert len(responses.calls) == 2


@responses.activate
def test_create_project_posts_and_returns_the_project(client):
    responses.post(
        f"{BASE}/v2/projects",
        status=201,
        json={"project": {"id": "p-1", "name": "skyai-internal"}},
        match=[
            matchers.json_params_matcher(
                {
                    "name": "skyai-internal",
                    "purpose": "Operational / Developer tooling",
                    "description": "orphans",
                    "environment": "Production",
                }
            )
        ],
    )

    project = client.create_project(
        "skyai-internal", purpose="Operational / Developer tooling", description="orphans"
    )

    assert project == {"id": "p-1", "name": "skyai-internal"}


@responses.activate
def test_create_project_is_not_retried_on_500_and_422_is_a_client_error(client, sleeps):
    responses.post(f"{BASE}/v2/projects", status=500, json={"id": "server_error", "message": "?"})
    with pytest.raises(DOServerError):
        client.create_project("x", purpose="y")
    assert len(responses.calls) == 1  # DO may have created it: never POST twice

    responses.replace(
        responses.POST,
        f"{BASE}/v2/projects",
        status=422,
        json={"id": "unprocessable_entity", "message": "name is taken"},
    )
    with pytest.raises(DOClientError, match="name is taken") as excinfo:
        client.create_project("x", purpose="y")
    assert excinfo.value.status == 422
    assert sleeps == []


# -- payloads --------------------------------------------------------------------------------------


@responses.activate
def test_non_json_body_is_a_bad_payload(client):
    responses.get(f"{BASE}/v2/droplets", body="<html>502 Bad Gateway</html>", status=200)

    with pytest.raises(DOBadPayload, match="not JSON") as excinfo:
        client.list_droplets()
    assert "502 Bad Gateway" in str(excinfo.value)


@responses.activate
def test_json_without_the_expected_key_is_a_bad_payload(client):
    responses.get(f"{BASE}/v2/droplets", json={"servers": []})

    with pytest.raises(DOBadPayload, match="'droplets'"):
        client.list_droplets()


@responses.activate
def test_invoice_csv_is_returned_verbatim_as_bytes(client):
    csv_text = (
        "product,group_description,description,hours,start,end,USD,project_name,category\n"
        "Droplets,,café-1 (s-1vcpu-1gb),744,2026-10-01 00:00:00 +0000,"
        '2026-11-01 00:00:00 +0000,"$1,008.00",Acme Corp,iaas\n'
    )
    responses.get(
        f"{BASE}/v2/customers/my/invoices/inv-1/csv",
        body=csv_text.encode("utf-8"),
        content_type="text/csv",
    )

    assert client.get_invoice_csv("inv-1") == csv_text.encode("utf-8")  # decoding is the caller's
    assert responses.calls[0].request.headers["Accept"] == "text/csv"


class LazyBody(io.RawIOBase):
    """A response body of `size` bytes made as it is read; `served` counts what was read."""

    ROW = b"Droplets,,web-1 (s-1vcpu-1gb),720,2026-04-01 00:00:00 +0000,,$6.00,Acme,iaas\n"

    def __init__(self, size: int) -> None:
        self.size, self.served = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.served)
        buffer[:count] = (self.ROW * (count // len(self.ROW) + 1))[:count]
        self.served += count
        return count


@responses.activate
def test_an_invoice_csv_longer_than_the_limit_is_cut_off_while_streaming(client):
    body = LazyBody(50_000_000)  # 50 MB, sent without a Content-Length
    responses.get(f"{BASE}/v2/customers/my/invoices/inv-1/csv", body=io.BufferedReader(body))

    with pytest.raises(DOResponseTooLarge, match="more than the 1048576 allowed") as excinfo:
        client.get_invoice_csv("inv-1", max_bytes=1024 * 1024)

    assert excinfo.value.limit == 1024 * 1024
    assert body.served < 1024 * 1024 + 256 * 1024  # the limit and one chunk, not 50 MB


@responses.activate
def test_an_invoice_csv_declaring_more_than_the_limit_is_not_read_at_all(client):
    body = LazyBody(30_000_000)
    responses.get(
        f"{BASE}/v2/customers/my/invoices/inv-1/csv",
        body=io.BufferedReader(body),
        headers={"Content-Length": "30000000"},
    )

    with pytest.raises(DOResponseTooLarge, match="declares 30000000 bytes"):
        client.get_invoice_csv("inv-1", max_bytes=1024 * 1024)

    assert body.served == 0


@responses.activate
def test_an_invoice_csv_at_the_limit_is_returned_whole(client):
    responses.get(f"{BASE}/v2/customers/my/invoices/inv-1/csv", body=b"x" * 1000)
    assert client.get_invoice_csv("inv-1", max_bytes=1000) == b"x" * 1000


@responses.activate
def test_reserved_ips_fall_back_to_floating_ips_when_the_endpoint_is_missing(client):
    responses.get(f"{BASE}/v2/reserved_ips", status=404, json={"id": "not_found"})
    responses.get(
        f"{BASE}/v2/floating_ips",
        json=page("floating_ips", [{"ip": "203.0.113.10", "droplet": None}]),
    )

    assert client.list_reserved_ips() == [{"ip": "203.0.113.10", "droplet": None}]


@responses.activate
def test_billing_endpoints(client):
    responses.get(
        f"{BASE}/v2/customers/my/balance",
        json={"month_to_date_balance": "1.00", "account_balance": "0.00"},
    )
    responses.get(
        f"{BASE}/v2/customers/my/billing_history",
        json=page("billing_history", [{"type": "Invoice", "invoice_uuid": "u"}]),
    )
    responses.get(
        f"{BASE}/v2/customers/my/invoices/u/summary", json={"invoice_uuid": "u", "amount": "2"}
    )

    assert client.get_balance()["month_to_date_balance"] == "1.00"
    assert client.list_billing_history() == [{"type": "Invoice", "invoice_uuid": "u"}]
    assert client.get_invoice_summary("u")["amount"] == "2"


# -- the token stays secret ------------------------------------------------------------------------


@responses.activate
def test_token_never_appears_in_errors_or_logs(client, caplog):
    caplog.set_level(logging.DEBUG, logger="integrations.digitalocean")
    echo = {"id": "unauthorized", "message": f"token {TOKEN} was revoked"}
    responses.get(f"{BASE}/v2/droplets", status=500, body=f"upstream saw Bearer {TOKEN}")
    responses.get(f"{BASE}/v2/droplets", status=401, json=echo)
    responses.get(f"{BASE}/v2/domains", body=f"not json {TOKEN}")

    with pytest.raises(DOAuthError) as auth_error:
        client.list_droplets()
    with pytest.raises(DOBadPayload) as payload_error:
        client.list_domains()

    for error in (auth_error.value, payload_error.value):
        assert TOKEN not in str(error)
        assert TOKEN not in repr(error.args)
        assert "[redacted]" in str(error)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client)
    assert "ratelimit-remaining" in caplog.text


# -- one token per purpose -------------------------------------------------------------------------


@responses.activate
def test_client_for_uses_the_purpose_token_then_the_shared_one(settings):
    settings.DO_API_BASE_URL = "https://do.sandbox.test/"
    settings.DO_API_TOKEN = "shared-token"
    settings.DO_TOKEN_SYNC = "sync-token"
    settings.DO_TOKEN_BILLING = ""
    responses.get("https://do.sandbox.test/v2/projects", json=page("projects", []))

    for purpose in ("sync", "billing"):
        client = client_for(purpose)
        assert client is not None
        client.list_projects()
    sent = [call.request.headers["Authorization"] for call in responses.calls]

    assert sent == ["Bearer sync-token", "Bearer shared-token"]


def test_client_for_returns_none_without_any_token(settings):
    settings.DO_API_TOKEN = ""
    settings.DO_TOKEN_PROVISIONING = ""

    assert client_for("provisioning") is None


def test_client_for_defaults_to_the_public_api(settings):
    settings.DO_API_TOKEN = "t"
    settings.DO_TOKEN_SYNC = ""
    del settings.DO_API_BASE_URL

    client = client_for("sync")

    assert client is not None
    assert client.base_url == "https://api.digitalocean.com"


def test_client_for_rejects_an_unknown_purpose():
    with pytest.raises(ValueError, match="sync"):
        client_for("deploy")
