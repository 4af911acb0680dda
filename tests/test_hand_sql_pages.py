"""The hand-written SQL of the hot lists (arcadia_cloud.sql) serves exactly what the ORM form
serves: for random estates, callers and query strings, every page of `GET inventory` and `GET
invoices` — walked to the end through `next` — is byte for byte the body the same view gives
when it reads through its queryset (`read_page = None`, the path other databases take).
Tenant isolation rides on it: a tenant's SQL page is the ORM scope's page, and the isolation
matrix of the ORM scope is tested elsewhere; here the tenant is also checked to see only rows
it owns."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIRequestFactory

from arcadia_cloud.auth import mint_token
from arcadia_cloud.renderers import OrjsonRenderer
from arcadia_cloud.sql import hand_sql_enabled, utc_timestamp_text
from inventory.api.views import ResourceListView
from inventory.models import CloudProject
from invoicing.invoices.api.views import InvoiceListView
from invoicing.models import CreditNote, InvoiceStatus, TenantInvoice, TenantInvoiceLine
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import make_invoice

pytestmark = pytest.mark.django_db

TENANTS = 3
_examples = itertools.count(1)
bounded = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class OrmResourceListView(ResourceListView):
    read_page = None  # the queryset's page: the reference


class OrmInvoiceListView(InvoiceListView):
    read_page = None


def walk(view, path: str, query: dict[str, str], token: str) -> list[bytes]:
    """Every page's body, following `next` to the end."""
    factory = APIRequestFactory()
    url, bodies = f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}", []
    while url:
        request = factory.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        response = view.as_view()(request)
        response.render()
        bodies.append(response.status_code.to_bytes(2, "big") + response.content)
        if response.status_code != 200:
            break
        url = json.loads(response.content)["next"]
        assert len(bodies) < 60, "a walk that does not end"
    return bodies


def same_pages(views, path, query, token) -> list[dict]:
    fast, reference = (walk(view, path, query, token) for view in views)
    assert fast == reference, (query, fast, reference)
    ok = [json.loads(body[2:]) for body in fast if body[:2] == (200).to_bytes(2, "big")]
    return [item for page in ok for item in page["results"]]


def caller_token(caller: int, tenants: list[str]) -> tuple[str, str | None]:
    if caller == TENANTS:
        return mint_token(tenant_id="platform-admin", roles=["platform_admin"]), None
    return mint_token(tenant_id=tenants[caller], roles=["tenant_user"]), tenants[caller]


@pytest.fixture(autouse=True)
def _on_postgres():
    if not hand_sql_enabled():
        pytest.skip("the hand-written SQL is PostgreSQL's; on SQLite the ORM form serves")


@contextlib.contextmanager
def example_rolled_back():
    """Each example on an empty estate: its rows are rolled back when it ends."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# -- timestamps as text --------------------------------------------------------------------

# Instants in any zone: whole seconds (hypothesis draws microsecond 0 often) and fractions.
instants = st.datetimes(
    min_value=dt.datetime(1, 1, 2),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=10)),
            dt.timezone(-dt.timedelta(hours=9, minutes=30)),
        ]
    ),
)


@bounded
@given(instant=st.one_of(st.none(), instants))
def test_a_timestamp_as_sql_text_is_the_renderers_text(instant):
    """`utc_timestamp_text` prints what the API's renderer prints for the datetime Django reads
    back from the same `timestamptz` (UTC, `Z`, a fraction only when there is one), or NULL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {utc_timestamp_text('v')}, v FROM (SELECT %s::timestamptz AS v) t", [instant]
        )
        text, read_back = cursor.fetchone()
    rendered = OrjsonRenderer().render({"at": read_back})
    assert OrjsonRenderer().render({"at": text}) == rendered
    if instant is not None:
        assert read_back == instant


# -- inventory -----------------------------------------------------------------------------

resource = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["droplet", "volume"]),
        "name": st.sampled_from(["a", "b", ""]),
        # a deployment (index), the resource's own tenant, or nobody
        "owner": st.one_of(
            st.tuples(st.just("deployment"), st.integers(0, 2 * TENANTS - 1)),
            st.tuples(st.just("tenant"), st.integers(0, TENANTS - 1)),
            st.just(("nobody",)),
        ),
        # its own tenant_id differs from its deployment's (an operator moved it)
        "moved_from": st.one_of(st.none(), st.integers(0, TENANTS - 1)),
        "project": st.one_of(st.none(), st.integers(0, TENANTS)),
        "deleted": st.booleans(),
        "seen": st.tuples(instants, instants),  # first seen, then last seen (or deleted)
        "attrs": st.dictionaries(st.sampled_from(["x", "size_gb"]), st.integers(0, 9), max_size=2),
    }
)
resource_query = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["droplet", "volume", "", "snapshot"]),
        "project": st.integers(0, TENANTS + 1),  # TENANTS + 1: no such project
        "deployment": st.integers(0, 2 * TENANTS),
        "tenant_id": st.integers(0, TENANTS - 1),
        "include_deleted": st.sampled_from(["true", "false"]),
        "page_size": st.integers(1, 4),
    },
)


@bounded
@given(
    resources=st.lists(resource, max_size=12),
    queries=st.lists(st.tuples(st.integers(0, TENANTS), resource_query), min_size=1, max_size=4),
)
def test_inventory_pages_by_sql_are_the_querysets(resources, queries):
    with example_rolled_back():
        inventory_example(resources, queries)


def inventory_example(resources, queries):
    n = next(_examples)
    tenants = [f"inv-{n}-{t}" for t in range(TENANTS)]
    deployments = [make_deployment(tenant_id=tenants[i % TENANTS]) for i in range(2 * TENANTS)]
    projects = [
        CloudProject.objects.create(
            provider_id=f"p-{n}-{i}",
            name=f"P{i}",
            tenant_id=tenants[i] if i < TENANTS else None,
        )
        for i in range(TENANTS + 1)
    ]
    for spec in resources:
        first, last = sorted(spec["seen"])
        fields: dict = {"name": spec["name"], "attrs": spec["attrs"], "first_seen_at": first}
        if spec["owner"][0] == "deployment":
            fields["deployment"] = deployments[spec["owner"][1]]
            if spec["moved_from"] is not None:
                fields["tenant_id"] = tenants[spec["moved_from"]]
        elif spec["owner"][0] == "tenant":
            fields["tenant_id"] = tenants[spec["owner"][1]]
        if spec["project"] is not None:
            fields["project"] = projects[spec["project"]]
        if spec["deleted"]:
            fields["deleted_at"] = last
        else:
            fields["last_seen_at"] = last
        make_resource(spec["kind"], **fields)
    for caller, spec in queries:
        token, viewer = caller_token(caller, tenants)
        query = {key: str(value) for key, value in spec.items()}
        if "project" in spec:
            pk = projects[spec["project"]].pk if spec["project"] <= TENANTS else 10**9
            query["project"] = str(pk)
        if "deployment" in spec:
            index = spec["deployment"]
            query["deployment"] = str(deployments[index].pk if index < len(deployments) else 10**9)
        if "tenant_id" in spec:
            query["tenant_id"] = tenants[spec["tenant_id"]]
        items = same_pages(
            (ResourceListView, OrmResourceListView), "/api/v1/inventory", query, token
        )
        if viewer is not None:
            assert all(item["tenant_id"] == viewer for item in items)


def test_a_project_filter_never_shows_a_tenant_another_tenants_project_by_sql():
    """The rare shape random estates seldom reach: the caller's own resource sitting in
    another tenant's project (an operator moved it), filtered by that project."""
    theirs = CloudProject.objects.create(provider_id="p-theirs", name="Theirs", tenant_id="t-b")
    mine = make_resource(tenant_id="t-a", project=theirs)
    query = {"project": str(theirs.pk)}
    views = (ResourceListView, OrmResourceListView)
    token, _ = caller_token(0, ["t-a"])
    assert same_pages(views, "/api/v1/inventory", query, token) == []
    admin, _ = caller_token(TENANTS, ["t-a"])
    assert [item["id"] for item in same_pages(views, "/api/v1/inventory", query, admin)] == [
        mine.pk
    ]


def test_a_bad_inventory_filter_is_the_same_400_by_sql():
    """The hand-written read validates through the same filter set: a bad value is the same 400
    naming it, and an unusable page size is the default, as the queryset's list reads them."""
    make_resource(tenant_id="t-1")
    token = mint_token(tenant_id="t-1", roles=["tenant_user"])
    views = (ResourceListView, OrmResourceListView)
    # The first refusal is asked again at the end: the kept cleanings never keep a refusal.
    refusals = [({"project": "0"}, "project"), ({"deployment": "x"}, "deployment")]
    refusals += [({"cursor": "bad!"}, "cursor"), ({"project": "0"}, "project")]
    for query, field in refusals:
        fast, reference = (walk(view, "/api/v1/inventory", query, token) for view in views)
        assert fast == reference and len(fast) == 1
        status, body = int.from_bytes(fast[0][:2], "big"), json.loads(fast[0][2:])
        assert status == 400 and field in body["error"]["fields"], body
    assert len(same_pages(views, "/api/v1/inventory", {"page_size": "x"}, token)) == 1


def test_a_list_read_run_often_is_a_prepared_statement_with_a_generic_plan():
    """Run often on one connection, a list's statement is prepared (DATABASE_PREPARE_THRESHOLD)
    and PostgreSQL settles on its generic plan: no planning per request. The admin's page of one
    kind is the case that stayed on a custom plan per run while its `LIMIT` was a parameter."""
    if connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is None:
        pytest.skip("DATABASE_PREPARE_THRESHOLD is off here: nothing is prepared")
    for n in range(3):
        make_resource(name=f"d-{n}", tenant_id="t-1")
    admin, _ = caller_token(TENANTS, ["t-1"])
    runs = 15  # 5 runs unprepared, then prepared; PostgreSQL plans its first 5, then decides
    for _ in range(runs):
        (body,) = walk(ResourceListView, "/api/v1/inventory", {"kind": "droplet"}, admin)
        assert len(json.loads(body[2:])["results"]) == 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s AND statement LIKE %s",
            ["%SELECT cloud_resources.id,%", "%LIMIT 51"],
        )
        ((generic, custom),) = cursor.fetchall()
    assert (generic, custom) == (runs - 5 - 5, 5)


def test_a_kept_filter_cleaning_is_per_query_string():
    """The SQL list keeps what a query string cleans to (arcadia_cloud.rows): the same string
    asked again, another value of the same parameter and a repeated parameter each read as the
    queryset's list reads them."""
    droplet, volume = (
        make_resource("droplet", tenant_id="t-1"),
        make_resource("volume", tenant_id="t-1"),
    )
    token = mint_token(tenant_id="t-1", roles=["tenant_user"])
    views = (ResourceListView, OrmResourceListView)
    asked = [({"kind": "droplet"}, [droplet.pk]), ({"kind": "droplet"}, [droplet.pk])]
    asked += [({"kind": "volume"}, [volume.pk]), ({}, [droplet.pk, volume.pk])]
    for query, expected in asked:
        assert [
            item["id"] for item in same_pages(views, "/api/v1/inventory", query, token)
        ] == expected
    twice = (
        "/api/v1/inventory?kind=volume&kind=droplet"  # the last value counts, as Django reads it
    )
    request = APIRequestFactory().get(twice, HTTP_AUTHORIZATION=f"Bearer {token}")
    response = ResourceListView.as_view()(request)
    assert [item["id"] for item in response.data["results"]] == [droplet.pk]


# -- invoices ------------------------------------------------------------------------------

MONTHS = (dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1))
invoice = st.fixed_dictionaries(
    {
        "tenant": st.integers(0, TENANTS - 1),
        "month": st.integers(0, len(MONTHS) - 1),
        "status": st.sampled_from(InvoiceStatus.values),
        "credits": st.lists(st.integers(1, 500), max_size=2),
        "deployment_line": st.booleans(),
    }
)
invoice_query = st.fixed_dictionaries(
    {},
    optional={
        "period": st.sampled_from(["2026-08", "2026-09-01", "2026-10", "2026-11"]),
        "status": st.sampled_from(InvoiceStatus.values),
        "tenant_id": st.integers(0, TENANTS - 1),
        "page_size": st.integers(1, 3),
    },
)


@bounded
@given(
    invoices=st.lists(invoice, max_size=8, unique_by=lambda spec: (spec["tenant"], spec["month"])),
    queries=st.lists(st.tuples(st.integers(0, TENANTS), invoice_query), min_size=1, max_size=4),
)
def test_invoice_pages_by_sql_are_the_querysets(invoices, queries):
    with example_rolled_back():
        invoice_example(invoices, queries)


def invoice_example(invoices, queries):
    n = next(_examples)
    tenants = [f"bill-{n}-{t}" for t in range(TENANTS)]
    for spec in invoices:
        tenant, month = tenants[spec["tenant"]], MONTHS[spec["month"]]
        made = make_invoice(tenant, period_start=month)  # a draft: lines may still be added
        if spec["deployment_line"]:  # a line of every column's shape: deployment, text, meta
            TenantInvoiceLine.objects.create(
                invoice=made,
                position=5,
                kind="plan_base",
                deployment=make_deployment(tenant_id=tenant),
                description='Studio — "café"\\',
                qty=Decimal("1.500000"),
                unit="month",
                unit_price_cents=0,
                amount_cents=0,
                meta={"b": [1, "two", None], "a": {"z": "é"}, "fraction": "1/2"},
            )
        status, now = spec["status"], timezone.now()
        if status != InvoiceStatus.DRAFT:
            TenantInvoice.objects.filter(pk=made.pk).update(
                status=status,
                number=f"T-{n}-{made.pk}",
                issued_at=now,
                paid_at=now if status == InvoiceStatus.PAID else None,
                voided_at=now if status == InvoiceStatus.VOID else None,
                void_reason="test" if status == InvoiceStatus.VOID else "",
            )
        for k, amount in enumerate(spec["credits"]):
            CreditNote.objects.create(
                number=f"CN-{n}-{made.pk}-{k}",
                invoice=made,
                tenant_id=made.tenant_id,
                currency=made.currency,
                reason="test",
                settlement="credit",
                subtotal_cents=amount,
                tax_cents=amount // 10,
                total_cents=amount + amount // 10,
                issued_at=timezone.now(),
                created_by="test",
            )
    for caller, spec in queries:
        token, viewer = caller_token(caller, tenants)
        query = {key: str(value) for key, value in spec.items()}
        if "tenant_id" in spec:
            query["tenant_id"] = tenants[spec["tenant_id"]]
        items = same_pages((InvoiceListView, OrmInvoiceListView), "/api/v1/invoices", query, token)
        if viewer is not None:
            assert all(item["tenant_id"] == viewer for item in items)
            assert all(item["status"] != InvoiceStatus.DRAFT for item in items)
