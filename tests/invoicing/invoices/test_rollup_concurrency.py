"""Rollups racing each other, on real committed transactions and separate connections."""

from __future__ import annotations

from collections import Counter

import pytest

from invoicing.invoices.rollup import RollupOutcome, RollupReport, roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceLine
from tests.catalog.concurrency import run_concurrently
from tests.invoicing.factories import APRIL, seed_catalog, subscriber

TENANTS = ("tenant-1", "tenant-2", "tenant-3", "tenant-4")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_rollups_write_exactly_one_invoice_per_tenant():
    seed_catalog()
    for tenant in TENANTS:
        subscriber(tenant, droplets=1)

    reports = run_concurrently(lambda: roll_up_period(APRIL), lambda: roll_up_period(APRIL))

    assert all(isinstance(report, RollupReport) for report in reports), reports
    outcomes = Counter(
        (result.tenant_id, result.outcome) for report in reports for result in report.results
    )
    for tenant in TENANTS:
        assert outcomes[tenant, RollupOutcome.INVOICED] == 1
        assert outcomes[tenant, RollupOutcome.SKIPPED] == 1
    assert sorted(TenantInvoice.objects.values_list("tenant_id", flat=True)) == list(TENANTS)
    # Each invoice has its own lines once: base, add-on, tax.
    assert TenantInvoiceLine.objects.count() == 3 * len(TENANTS)


@pytest.mark.django_db(transaction=True)
def test_concurrent_forced_rollups_regenerate_each_draft_once_at_a_time():
    seed_catalog()
    for tenant in TENANTS:
        subscriber(tenant)
    roll_up_period(APRIL)

    reports = run_concurrently(
        lambda: roll_up_period(APRIL, force=True), lambda: roll_up_period(APRIL, force=True)
    )

    assert all(isinstance(report, RollupReport) for report in reports), reports
    assert {r.outcome for report in reports for r in report.results} == {RollupOutcome.REGENERATED}
    assert TenantInvoice.objects.count() == len(TENANTS)
    assert TenantInvoiceLine.objects.count() == 3 * len(TENANTS)
