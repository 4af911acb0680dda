"""Conformance with DigitalOcean's published OpenAPI description.

Every request the client sends and every response the emulator serves is validated against
the spec's schemas (openapi-core, `$ref`s resolved across the description's files), and the
spec's own response examples go through the inventory normalizers. The emulator is the only
DigitalOcean the suite ever talks to: where it disagrees with the spec, a real account would be
read wrongly while every other test stays green.
"""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
import requests

from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import run_emulator
from integrations.digitalocean.sandbox.emulator import DEFAULT_ACCOUNT_URN
from inventory import normalize
from inventory.models import ResourceKind

from . import conformance

pytestmark = pytest.mark.skipif(conformance.spec_dir() is None, reason=conformance.MISSING_REASON)

PERIOD = dt.date(2026, 10, 1)
AFTER_MONTH_END = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
ACME_WEB_1 = 512340101


class RecordingSession(requests.Session):
    """A session keeping every response (its body read, so streaming callers still work)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[requests.Response] = []
        self.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        _ = response.content
        self.responses.append(response)
        return response


def _invoice_uuid(client: DigitalOceanClient) -> str:
    invoices = [e for e in client.list_billing_history() if e.get("type") == "Invoice"]
    return invoices[0]["invoice_uuid"]


# Every public call of the client, as the syncs and the billing ingest make it.
CALLS = {
    "list_droplets": lambda c: c.list_droplets(),
    "list_domains": lambda c: c.list_domains(),
    "list_volumes": lambda c: c.list_volumes(),
    "list_snapshots": lambda c: (c.list_snapshots(), c.list_snapshots("volume")),
    "list_reserved_ips": lambda c: c.list_reserved_ips(),
    "list_firewalls": lambda c: c.list_firewalls(),
    "list_load_balancers": lambda c: c.list_load_balancers(),
    "list_projects": lambda c: c.list_projects(),
    "list_project_resources": lambda c: [
        c.list_project_resources(p["id"]) for p in c.list_projects()
    ],
    "list_droplet_backups": lambda c: c.list_droplet_backups(ACME_WEB_1),
    "list_private_images": lambda c: c.list_private_images(),
    "list_databases": lambda c: c.list_databases(),
    "list_kubernetes_clusters": lambda c: c.list_kubernetes_clusters(),
    "list_apps": lambda c: c.list_apps(),
    "list_reserved_ipv6": lambda c: c.list_reserved_ipv6(),
    "list_registries": lambda c: c.list_registries(),
    "list_billing_history": lambda c: c.list_billing_history(),
    "create_project": lambda c: c.create_project(
        "conformance", purpose="Operational / Developer tooling", description="a test"
    ),
    "get_balance": lambda c: c.get_balance(),
    "get_invoice_summary": lambda c: c.get_invoice_summary(_invoice_uuid(c)),
    "get_invoice_csv": lambda c: c.get_invoice_csv(_invoice_uuid(c)),
    "list_invoice_items": lambda c: c.list_invoice_items(_invoice_uuid(c)),
    # Dunning's power actions (issue 21): asked for, then followed.
    "droplet_action": lambda c: c.droplet_action(ACME_WEB_1, "power_off"),
    "get_action": lambda c: c.get_action(c.droplet_action(ACME_WEB_1, "power_on")["id"]),
    # DigitalOcean's price list (issue 18).
    "list_sizes": lambda c: c.list_sizes(),
    "get_database_options": lambda c: c.get_database_options(),
    "get_kubernetes_options": lambda c: c.get_kubernetes_options(),
    "list_app_instance_sizes": lambda c: c.list_app_instance_sizes(),
    # Bandwidth measurement (issue 17): a day of public outbound traffic.
    "get_droplet_bandwidth": lambda c: c.get_droplet_bandwidth(
        ACME_WEB_1, start=1_791_936_000, end=1_792_022_399
    ),
    # Daily COGS (issue 18): the billed month's nightly estimates, several pages.
    "list_billing_insights": lambda c: c.list_billing_insights(
        DEFAULT_ACCOUNT_URN, PERIOD, dt.date(2026, 10, 31)
    ),
}
EXTRA_CALLS: dict = {}


def _public_calls() -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(DigitalOceanClient, inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_public_call_of_the_client_is_checked():
    assert _public_calls() == set(CALLS) | set(EXTRA_CALLS)


@pytest.fixture(scope="module")
def exchanges() -> list[requests.Response]:
    session = RecordingSession()
    with run_emulator(period=PERIOD, clock=AFTER_MONTH_END) as emulator:
        client = DigitalOceanClient(emulator.base_url, emulator.token, session=session)
        for call in (*CALLS.values(), *EXTRA_CALLS.values()):
            call(client)
    return session.responses


def test_every_request_the_client_sends_is_one_the_spec_describes(exchanges):
    problems = {}
    for response in exchanges:
        errors = conformance.request_errors(response.request)
        if errors:
            problems[f"{response.request.method} {response.request.path_url}"] = errors
    assert problems == {}


def test_every_response_the_emulator_serves_matches_the_spec(exchanges):
    assert all(r.status_code < 400 for r in exchanges), [
        (r.request.path_url, r.status_code) for r in exchanges if r.status_code >= 400
    ]
    problems = {}
    for response in exchanges:
        errors = conformance.response_errors(response)
        if errors:
            problems[f"{response.request.method} {response.request.path_url}"] = errors
    assert problems == {}, "\n".join(f"{k}:\n" + "\n".join(v) for k, v in problems.items())


def test_every_response_carries_the_headers_the_spec_documents(exchanges):
    # ratelimit-* everywhere, content-disposition on the invoice CSV
    missing = {
        f"{r.request.method} {r.request.path_url}": conformance.missing_headers(r)
        for r in exchanges
    }
    assert {call: names for call, names in missing.items() if names} == {}


# -- the spec's own examples through our readers -------------------------------------------------

# (spec path, list key, our kind): what each dedicated sync reads.
LISTINGS = [
    ("/v2/droplets", "droplets", ResourceKind.DROPLET),
    ("/v2/domains", "domains", ResourceKind.DNS_ZONE),
    ("/v2/volumes", "volumes", ResourceKind.VOLUME),
    ("/v2/snapshots", "snapshots", ResourceKind.SNAPSHOT),
    ("/v2/reserved_ips", "reserved_ips", ResourceKind.FLOATING_IP),
    ("/v2/floating_ips", "floating_ips", ResourceKind.FLOATING_IP),
    ("/v2/firewalls", "firewalls", ResourceKind.FIREWALL),
    ("/v2/load_balancers", "load_balancers", ResourceKind.LOAD_BALANCER),
    ("/v2/databases", "databases", ResourceKind.MANAGED_DB),
    ("/v2/kubernetes/clusters", "kubernetes_clusters", ResourceKind.K8S_CLUSTER),
    ("/v2/apps", "apps", ResourceKind.APP),
    ("/v2/images", "images", ResourceKind.CUSTOM_IMAGE),
    ("/v2/reserved_ipv6", "reserved_ipv6s", ResourceKind.RESERVED_IPV6),
]
ID_FIELDS = {
    ResourceKind.DNS_ZONE: "name",
    ResourceKind.FLOATING_IP: "ip",
    ResourceKind.RESERVED_IPV6: "ip",
}
# The spec gives no example body for GET /v2/registry; the emulator's is validated against the
# schema by test_every_response_the_emulator_serves_matches_the_spec.
WITHOUT_SPEC_EXAMPLE = {ResourceKind.CONTAINER_REGISTRY}


def test_every_listing_the_syncs_read_has_examples_here():
    listed = {kind for _, _, kind in LISTINGS}
    assert listed | WITHOUT_SPEC_EXAMPLE == set(normalize.NORMALIZERS)
    assert conformance.response_examples("/v2/registry") == []  # else: add it above


@pytest.mark.parametrize(("path", "key", "kind"), LISTINGS, ids=[p for p, _, _ in LISTINGS])
def test_the_specs_examples_normalize(path, key, kind):
    examples = conformance.response_examples(path)
    items = [item for example in examples for item in example[key]]
    assert items, f"the spec gives no example of {path}"
    for item in items:
        snapshot = normalize.NORMALIZERS[kind](item)
        assert snapshot.provider_id == str(item[ID_FIELDS.get(kind, "id")])
        assert snapshot.kind == kind
        if kind not in (ResourceKind.FIREWALL, ResourceKind.FLOATING_IP):
            assert snapshot.name, item


def test_the_specs_gpu_droplet_example_normalizes_as_a_gpu_droplet():
    [gpu] = [
        item
        for example in conformance.response_examples("/v2/droplets")
        for item in example["droplets"]
        if item.get("gpu_info")
    ]
    snapshot = normalize.droplet(gpu)
    assert (snapshot.size_slug, snapshot.region) == ("gpu-h100x1-80gb", "tor1")
    assert (snapshot.attrs["gpu_count"], snapshot.attrs["gpu_model"]) == (1, "nvidia_h100")


def test_the_specs_cluster_database_and_app_examples_keep_what_billing_needs():
    [cluster] = conformance.response_examples("/v2/kubernetes/clusters")[0]["kubernetes_clusters"]
    snapshot = normalize.k8s_cluster(cluster)
    assert snapshot.attrs["node_count"] == 5
    assert snapshot.size_slug == "g-4vcpu-16gb,s-1vcpu-2gb"
    [database] = conformance.response_examples("/v2/databases")[0]["databases"]
    snapshot = normalize.managed_db(database)
    assert (snapshot.size_slug, snapshot.attrs["num_nodes"]) == ("db-s-2vcpu-4gb", 1)
    assert snapshot.attrs["storage_size_mib"] == 61440
    [app] = conformance.response_examples("/v2/apps")[0]["apps"]
    snapshot = normalize.app(app)
    assert snapshot.name and snapshot.size_slug == app["tier_slug"]
    assert all(c["instance_size_slug"] for c in snapshot.attrs["components"])


def test_the_specs_load_balancer_examples_keep_their_node_count():
    for example in conformance.response_examples("/v2/load_balancers"):
        for item in example["load_balancers"]:
            nodes = normalize.load_balancer(item).attrs["nodes"]
            assert isinstance(nodes, int) and nodes >= 1


def test_the_specs_project_resource_examples_parse():
    urns = [
        item["urn"]
        for example in conformance.response_examples("/v2/projects/{project_id}/resources")
        for item in example["resources"]
    ]
    assert urns
    assert all(normalize.parse_urn(urn).known for urn in urns)


def test_the_specs_invoice_csv_example_parses_and_classifies():
    from billing.classify import classify_line
    from billing.csv_parser import decode_invoice_csv, parse_invoice_csv

    [example] = conformance.response_examples(
        "/v2/customers/my/invoices/{invoice_uuid}/csv", media_type="text/csv"
    )
    parsed = parse_invoice_csv(decode_invoice_csv(example.encode()))
    classes = {line.description: classify_line(line.product, line.description) for line in parsed}
    ip = classes["Unused Floating IP - 1.1.1.1"]
    assert (ip.kind, ip.resource_name) == (ResourceKind.FLOATING_IP, "1.1.1.1")
    assert classes["STATE SALES TAX (6.25%)"].is_tax
