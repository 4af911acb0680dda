"""The large lists rendered from `values()` rows (arcadia_cloud.rows) print exactly what their
serializer prints for the same objects, and their keyset pages cost the same at any depth."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from arcadia_cloud.renderers import OrjsonRenderer
from inventory.api.serializers import ResourceSerializer
from inventory.models import CloudProject
from inventory.selectors import resources_with_effective_tenant
from invoicing.invoices.api.serializers import TenantInvoiceSerializer
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.selectors import invoices_list, invoices_with_lines
from invoicing.models import TenantInvoiceLine
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import make_invoice

pytestmark = pytest.mark.django_db


def as_json(data) -> object:
    """What a client reads: the renderer's bytes, parsed."""
    return json.loads(OrjsonRenderer().render(data))


def walk(api, url: str, django_assert_max_num_queries, *, queries: int) -> list[dict]:
    """Every page of a keyset list, each under the same query bound (page N costs page 1)."""
    items, pages = [], 0
    while url:
        with django_assert_max_num_queries(queries):
            response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "results"}  # no COUNT(*)
        items.extend(body["results"])
        url, pages = body["next"], pages + 1
    return items


def estate() -> None:
    """Resources of every shape a list item can have: own or through a deployment, in the
    tenant's project, in another tenant's project, in no project, deleted, with attributes."""
    ours = CloudProject.objects.create(provider_id="p-a", name="Acme", tenant_id=TENANT_A)
    theirs = CloudProject.objects.create(provider_id="p-b", name="Bees", tenant_id=TENANT_B)
    unclassified = CloudProject.objects.create(provider_id="p-0", name="Default")
    deployment = make_deployment(tenant_id=TENANT_A)
    make_resource(deployment=deployment, project=ours, size_gb=40)
    make_resource("volume", deployment=deployment, project=theirs, attrs={"x": [1, "two"]})
    make_resource(tenant_id=TENANT_A, project=unclassified)
    make_resource(tenant_id=TENANT_A)
    make_resource(tenant_id=TENANT_A, deleted_at=timezone.now(), status="off")
    make_resource(tenant_id=TENANT_B, project=theirs)
    make_resource("snapshot")


@pytest.mark.parametrize("caller", ["tenant_a_api", "admin_api"])
def test_inventory_rows_print_what_the_serializer_prints(caller, request):
    estate()
    api = request.getfixturevalue(caller)
    viewer = None if caller == "admin_api" else TENANT_A
    listed = api.get("/api/v1/inventory?include_deleted=true&page_size=500").json()["results"]
    assert len(listed) == (5 if viewer else 7)
    resources = {
        resource.pk: resource
        for resource in resources_with_effective_tenant().filter(pk__in=[r["id"] for r in listed])
    }
    expected = ResourceSerializer(
        [resources[item["id"]] for item in listed],
        many=True,
        context={"viewer_tenant_id": viewer},
    ).data
    assert listed == as_json(expected)
    # the other tenant's project is hidden from the tenant, shown to the admin
    volume = next(item for item in listed if item["kind"] == "volume")
    assert (volume["project"] is None) == (viewer is not None)


def invoices(tenant_id: str, months: int) -> None:
    deployment = make_deployment(tenant_id=tenant_id)
    for n in range(months):
        invoice = make_invoice(tenant_id, period_start=dt.date(2025 + n // 12, 1 + n % 12, 1))
        TenantInvoiceLine.objects.create(
            invoice=invoice,
            position=3,
            kind="plan_base",
            deployment=deployment,
            description="Studio",
            qty=Decimal("1"),
            unit="month",
            unit_price_cents=4900,
            amount_cents=4900,
            meta={"fraction": "1"},
        )
        invoice_issue(invoice=invoice, actor="test")


@pytest.mark.parametrize("caller", ["tenant_a_api", "admin_api"])
def test_invoice_rows_print_what_the_serializer_prints(caller, request):
    invoices(TENANT_A, 3)
    invoices(TENANT_B, 2)
    make_invoice(TENANT_A, period_start=dt.date(2026, 6, 1))  # a draft: the admin's only
    api = request.getfixturevalue(caller)
    listed = api.get("/api/v1/invoices?page_size=500").json()["results"]
    assert len(listed) == (3 if caller == "tenant_a_api" else 6)
    objects = {
        invoice.pk: invoice
        for invoice in invoices_with_lines(invoices_list()).filter(
            pk__in=[item["id"] for item in listed]
        )
    }
    expected = TenantInvoiceSerializer([objects[item["id"]] for item in listed], many=True).data
    assert listed == as_json(expected)
    # three lines on each issued invoice, two on the draft
    assert sum(len(item["lines"]) for item in listed) == (9 if caller == "tenant_a_api" else 17)


def test_invoice_pages_cost_the_same_at_any_depth(admin_api, django_assert_max_num_queries):
    invoices(TENANT_A, 14)
    invoices(TENANT_B, 14)
    url = "/api/v1/invoices?page_size=3"
    items = walk(admin_api, url, django_assert_max_num_queries, queries=2)
    assert len(items) == 28 and len({item["id"] for item in items}) == 28  # 10 pages, no repeats
    keys = [(item["period_start"], item["tenant_id"], item["id"]) for item in items]
    # newest period first, then by tenant: the list's order across page boundaries
    newest_first = sorted(
        keys, key=lambda key: (-dt.date.fromisoformat(key[0]).toordinal(), *key[1:])
    )
    assert keys == newest_first


def test_invoice_pages_of_a_filtered_list(tenant_a_api, django_assert_max_num_queries):
    invoices(TENANT_A, 5)
    invoices(TENANT_B, 5)
    url = "/api/v1/invoices?page_size=2&status=issued"
    items = walk(tenant_a_api, url, django_assert_max_num_queries, queries=2)
    assert len(items) == 5 and {item["tenant_id"] for item in items} == {TENANT_A}


@pytest.mark.parametrize(
    "cursor",
    [
        "WyIyMDI2LTEzLTAxIiwgIngiLCAxXQ",  # ["2026-13-01", "x", 1]: not a date
        "WzEsICJ4IiwgMV0",  # [1, "x", 1]: a number for the period
        "WyIyMDI2LTAxLTAxIiwgIngiXQ",  # two values of three
        "not base64 at all!",
    ],
)
def test_a_foreign_invoice_cursor_is_a_400_naming_it(cursor, admin_api):
    invoices(TENANT_A, 1)
    response = admin_api.get(f"/api/v1/invoices?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]


def test_each_request_filters_as_its_own_caller(admin_api, tenant_a_api):
    """The FilterSet's filters are copied per request (arcadia_cloud.filtering): a `method=`
    filter reads the request it serves, never the one before it."""
    make_resource(tenant_id=TENANT_A)
    make_resource(tenant_id=TENANT_B)
    url = f"/api/v1/inventory?tenant_id={TENANT_B}"
    for _ in range(2):
        admin_rows = admin_api.get(url).json()["results"]
        assert {row["tenant_id"] for row in admin_rows} == {TENANT_B}
        tenant_rows = tenant_a_api.get(url).json()["results"]  # tenants see only their own
        assert {row["tenant_id"] for row in tenant_rows} == {TENANT_A}


def test_a_bad_filter_value_is_still_a_400_naming_it(tenant_a_api):
    for _ in range(2):  # the cached form class validates every request
        response = tenant_a_api.get("/api/v1/invoices?period=2026-13")
        assert response.status_code == 400
        assert "period" in response.json()["error"]["fields"]
        assert tenant_a_api.get("/api/v1/inventory?project=0").status_code == 400
