"""Every list endpoint issues the same number of queries for a few rows as for many (SPEC §18).

Each list is read at two sizes, as the caller who sees the rows, under the same bound: a query
per row (an N+1) would break the bound at the larger size. The rows carry what the serializer
renders (a resource's deployment and project, a deployment's subscription and add-ons, an
invoice's lines), so a missing select_related / prefetch shows up here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import CloudInvoice
from catalog.seed import catalog_seed
from deployments.services import subscription_create
from drift.services import drift_detect_all
from inventory.models import CloudProject
from invoicing.invoices.lifecycle import invoice_issue
from tests.billing.factories import make_invoice as make_cloud_invoice
from tests.billing.factories import make_line
from tests.catalog.factories import make_addon, make_plan, make_version
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment
from tests.drift.factories import make_provisioned
from tests.inventory.factories import make_resource
from tests.inventory.factories import make_resource as make_billing_resource
from tests.invoicing.factories import make_invoice as make_tenant_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(db):
    """The SPEC §8 launch catalog (the deployments carry its plans and add-ons)."""
    return catalog_seed()


SIZES = [2, 25]


def page_size(rows: int) -> str:
    return f"page_size={max(rows, 1)}"


@pytest.mark.parametrize("rows", SIZES)
def test_inventory_as_a_tenant(rows, tenant_a_api, django_assert_max_num_queries):
    project = CloudProject.objects.create(provider_id=f"p-{rows}", name="Acme", tenant_id=TENANT_A)
    deployment = make_deployment(tenant_id=TENANT_A)
    for n in range(rows):
        make_resource(deployment=deployment if n % 2 else None, tenant_id=TENANT_A, project=project)
    make_resource(tenant_id=TENANT_B)
    with django_assert_max_num_queries(1):  # the page (keyset; the deployment ids inside it)
        body = tenant_a_api.get(f"/api/v1/inventory?{page_size(rows)}").json()
    assert len(body["results"]) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_inventory_filtered_by_tenant_as_an_admin(rows, admin_api, django_assert_max_num_queries):
    deployment = make_deployment(tenant_id=TENANT_A)
    for n in range(rows):
        make_resource(deployment=deployment if n % 2 else None, tenant_id=TENANT_A)
    with django_assert_max_num_queries(2):
        body = admin_api.get(f"/api/v1/inventory?tenant_id={TENANT_A}&{page_size(rows)}").json()
    assert len(body["results"]) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_billing_cost_lines(rows, admin_api, django_assert_max_num_queries):
    invoice = make_cloud_invoice()
    deployment = make_deployment(tenant_id=TENANT_A)
    for n in range(rows):
        resource = make_billing_resource(name=f"web-{n}", deployment=deployment)
        make_line(invoice, resource=resource if n % 3 else None)
    with django_assert_max_num_queries(2):  # count, one joined page
        body = admin_api.get(f"/api/v1/billing/cost-lines?period=2026-04&{page_size(rows)}").json()
    assert body["count"] == rows


@pytest.mark.parametrize("rows", SIZES)
def test_billing_invoices(rows, admin_api, django_assert_max_num_queries):
    for n in range(rows):
        make_cloud_invoice(period=dt.date(2024 + n // 12, 1 + n % 12, 1))
    with django_assert_max_num_queries(2):  # count, page
        body = admin_api.get(f"/api/v1/billing/invoices?{page_size(rows)}").json()
    assert body["count"] == rows == CloudInvoice.objects.count()


@pytest.mark.parametrize("rows", SIZES)
def test_catalog_plans(rows, tenant_a_api, django_assert_max_num_queries):
    for n in range(rows):
        plan = make_plan(f"plan-{n:02d}")
        make_version(plan, publish=True)
        make_version(plan)  # a draft beside the active version
    with django_assert_max_num_queries(4):
        body = tenant_a_api.get(f"/api/v1/catalog/plans?{page_size(rows)}").json()
    assert body["count"] == rows


@pytest.mark.parametrize("rows", SIZES)
def test_catalog_addons(rows, tenant_a_api, django_assert_max_num_queries):
    for n in range(rows):
        make_addon(f"addon-{n:02d}")
    with django_assert_max_num_queries(2):  # count, page
        body = tenant_a_api.get(f"/api/v1/catalog/addons?{page_size(rows)}").json()
    assert body["count"] == rows


def subscribed_deployments(rows: int, tenant_id: str = TENANT_A) -> None:
    for n in range(rows):
        deployment = make_deployment(tenant_id=tenant_id)
        addons = ["storage_50gb", "llm_1m_tokens"] if n % 2 else []
        subscription_create(
            deployment=deployment, plan_code="studio", addon_codes=addons, actor="test"
        )


@pytest.mark.parametrize("rows", SIZES)
def test_deployments_as_an_admin(rows, seeded, admin_api, django_assert_max_num_queries):
    subscribed_deployments(rows)
    with django_assert_max_num_queries(3):  # count, page with subscriptions, add-ons
        body = admin_api.get(f"/api/v1/deployments?{page_size(rows)}").json()
    assert body["count"] == rows


@pytest.mark.parametrize("rows", SIZES)
def test_deployments_as_a_tenant(rows, seeded, tenant_a_api, django_assert_max_num_queries):
    subscribed_deployments(rows)
    subscribed_deployments(2, tenant_id=TENANT_B)
    with django_assert_max_num_queries(3):
        body = tenant_a_api.get(f"/api/v1/deployments?{page_size(rows)}").json()
    assert body["count"] == rows


def issued_invoices(rows: int, tenant_id: str) -> None:
    for n in range(rows):
        period = dt.date(2024 + n // 12, 1 + n % 12, 1)
        invoice_issue(invoice=make_tenant_invoice(tenant_id, period_start=period), actor="test")


@pytest.mark.parametrize("rows", SIZES)
def test_invoices_as_an_admin(rows, admin_api, django_assert_max_num_queries):
    issued_invoices(rows, TENANT_A)
    with django_assert_max_num_queries(2):  # the page (keyset), lines with their deployments
        body = admin_api.get(f"/api/v1/invoices?{page_size(rows)}").json()
    assert len(body["results"]) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_invoices_as_a_tenant(rows, tenant_a_api, django_assert_max_num_queries):
    issued_invoices(rows, TENANT_A)
    issued_invoices(2, TENANT_B)
    with django_assert_max_num_queries(2):
        body = tenant_a_api.get(f"/api/v1/invoices?{page_size(rows)}").json()
    assert len(body["results"]) == rows


@pytest.mark.parametrize("rows", SIZES)
def test_drift_inbox(rows, admin_api, django_assert_max_num_queries):
    for _ in range(rows):
        make_provisioned(spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all()
    with django_assert_max_num_queries(2):  # count, one joined page
        body = admin_api.get(f"/api/v1/drift?{page_size(rows)}").json()
    assert body["count"] == rows
