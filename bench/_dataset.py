"""A reseller's estate at scale, built straight into the tables with INSERT … SELECT (setup, not
what is timed): tenants with two deployments each, resources attached to them, a month of
tenant invoices with their lines, DigitalOcean cost lines matched to those resources, an FX
rate and, optionally, a month of daily usage rows.

`Estate(tenants=5_000)` is SPEC §18's reseller: 10,000 deployments, 100,000 resources, 10,000
tenant invoices (two months) with 110,000 lines, 100,000 cost lines (two DigitalOcean invoices)
and 3,000,000 usage rows. Everything scales with `tenants`, so 1x / 3x / 10x data sets are the
same shape. Deterministic: no randomness, ids follow insertion order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from analytics.models import FxRate
from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import days_in_month, month_end, previous_month
from billing.models import CloudInvoice
from billing.summaries import cost_summary_rebuild
from deployments.models import Deployment
from invoicing.summaries import revenue_summary_rebuild

DEPLOYMENTS_PER_TENANT = 2
RESOURCES_PER_DEPLOYMENT = 10
COST_LINES_PER_DEPLOYMENT_MONTH = 5
USAGE_KINDS = (
    "droplet_hours",
    "spaces_gb_month",
    "snapshot_gb_month",
    "backup_gb_month",
    "volume_gb_month",
    "bandwidth_gb",
    "dns_zones",
    "load_balancer_hours",
    "floating_ip_hours",
    "llm_tokens",
)
RESOURCE_KINDS = (
    "droplet",
    "droplet",
    "droplet",
    "volume",
    "snapshot",
    "snapshot",
    "droplet_backup",
    "floating_ip",
    "load_balancer",
    "dns_zone",
)
COST_PRODUCTS = {
    "droplet": "Droplets",
    "volume": "Volumes",
    "snapshot": "Droplet Snapshots",
    "droplet_backup": "Droplet Backups",
    "floating_ip": "Reserved IPs",
    "load_balancer": "Load Balancers",
    "dns_zone": "Domains",
}
USD_AUD = Decimal("1.52")

RESOURCES = """
INSERT INTO cloud_resources (provider, kind, provider_id, name, region, size_slug, status, attrs,
                             tenant_id, project_id, deployment_id, first_seen_at, last_seen_at,
                             stale_strike_count, deleted_at)
SELECT 'digitalocean', (%(kinds)s::text[])[1 + n %% 10], 'bench-' || n,
       'res-' || lpad(n::text, 6, '0'), (ARRAY['syd1', 'sgp1'])[1 + n %% 2], 's-1vcpu-2gb',
       'active', jsonb_build_object('size_gb', (10 + n %% 90)::text),
       CASE WHEN n %% 20 = 0 THEN 'tenant-' || lpad((n / 20 %% %(tenants)s)::text, 5, '0') END,
       NULL,
       CASE WHEN n %% 10 <> 0 THEN (%(deployments)s::bigint[])[1 + n %% %(deployment_count)s] END,
       %(first_seen)s, %(last_seen)s, 0, NULL
FROM generate_series(0, %(resources)s - 1) AS n
"""
# Per deployment: plan base, an add-on, two overage lines, the LLM passthrough line; then one
# tax line per invoice (10% of the subtotal), written once the subtotal is known.
INVOICES = """
INSERT INTO tenant_invoices (tenant_id, period_start, period_end, currency, subtotal_cents,
                             tax_cents, total_cents, credit_cents, parties, status, number,
                             issued_at, paid_at, voided_at, void_reason, generated_at,
                             created_at, updated_at)
SELECT 'tenant-' || lpad(t::text, 5, '0'), p.first_day, p.last_day, 'AUD', 0, 0, 0, 0, '{}',
       'draft', NULL, NULL, NULL, NULL, '', now(), now(), now()
FROM generate_series(0, %(tenants)s - 1) AS t
CROSS JOIN unnest(%(months)s::date[], %(month_ends)s::date[]) AS p(first_day, last_day)
"""
INVOICE_LINES = """
INSERT INTO tenant_invoice_lines (invoice_id, position, kind, deployment_id, subscription_id,
                                  resource_kind, description, qty, unit, unit_price_cents,
                                  amount_cents, meta)
SELECT i.id, 5 * (row_number() OVER (PARTITION BY i.id, l.kind ORDER BY d.id) - 1) + l.position,
       l.kind, d.id, NULL, l.resource_kind, l.description, l.qty, l.unit, l.unit_price,
       l.unit_price * l.qty * (1 + d.id %% 3), '{}'::jsonb
FROM tenant_invoices i
JOIN cloud_deployments d ON d.tenant_id = i.tenant_id
CROSS JOIN (VALUES
    (1, 'plan_base', NULL, 'Plan studio', 1, 'month', 5000),
    (2, 'addon', 'spaces_gb_month', 'Add-on storage_50gb', 1, 'month', 750),
    (3, 'overage', 'droplet_hours', 'droplet_hours over the allowance', 300, 'hour', 1),
    (4, 'overage', 'bandwidth_gb', 'bandwidth_gb over the allowance', 120, 'gb', 1),
    (5, 'llm_usage', 'llm_tokens', 'LLM usage (passthrough)', 1, 'AUD', 100)
) AS l(position, kind, resource_kind, description, qty, unit, unit_price)
"""
TAX_LINES = """
WITH subtotals AS (
    SELECT invoice_id, sum(amount_cents) AS subtotal, max(position) AS last_position
    FROM tenant_invoice_lines GROUP BY invoice_id
)
INSERT INTO tenant_invoice_lines (invoice_id, position, kind, deployment_id, subscription_id,
                                  resource_kind, description, qty, unit, unit_price_cents,
                                  amount_cents, meta)
SELECT invoice_id, last_position + 1, 'tax', NULL, NULL, NULL, 'GST 10%%', 0.1, 'rate',
       subtotal, round(subtotal * 0.1), '{}'::jsonb
FROM subtotals
"""
INVOICE_TOTALS = """
UPDATE tenant_invoices i
SET subtotal_cents = s.subtotal, tax_cents = s.tax, total_cents = s.subtotal + s.tax
FROM (SELECT invoice_id,
             sum(amount_cents) FILTER (WHERE kind <> 'tax') AS subtotal,
             sum(amount_cents) FILTER (WHERE kind = 'tax') AS tax
      FROM tenant_invoice_lines GROUP BY invoice_id) AS s
WHERE s.invoice_id = i.id
"""
# 80% issued, 10% paid, 5% void, 5% left as drafts.
INVOICE_STATUSES = """
UPDATE tenant_invoices
SET status = CASE WHEN id %% 20 < 16 THEN 'issued' WHEN id %% 20 < 18 THEN 'paid'
                  WHEN id %% 20 = 18 THEN 'void' ELSE 'draft' END,
    number = CASE WHEN id %% 20 < 19 THEN 'ARC-BENCH-' || lpad(id::text, 7, '0') END,
    issued_at = CASE WHEN id %% 20 < 19 THEN now() END,
    paid_at = CASE WHEN id %% 20 IN (16, 17) THEN now() END,
    voided_at = CASE WHEN id %% 20 = 18 THEN now() END,
    void_reason = CASE WHEN id %% 20 = 18 THEN 'duplicate' ELSE '' END
"""
# Nine lines in ten are matched to a resource (so to a deployment's or a resource's tenant, or
# unattributed when the resource has neither); one in ten is unmatched.
COST_LINES = """
INSERT INTO cloud_cost_lines (invoice_id, line_number, product, group_description, description,
                              hours, start_at, end_at, amount, project_name, category, kind,
                              resource_name, is_tax, resource_id, match_status, match_code,
                              match_reason)
SELECT %(invoice)s, n, p.product, '', r.name || ' (detail)', 720, %(start)s, %(end)s,
       ((n %% 97) + 1) * 0.4321, '', 'iaas', r.kind, r.name, false,
       CASE WHEN n %% 10 <> 9 THEN r.id END,
       CASE WHEN n %% 10 <> 9 THEN 'matched' ELSE 'unmatched' END,
       CASE WHEN n %% 10 <> 9 THEN 'live' ELSE 'not_in_inventory' END, ''
FROM generate_series(1, %(lines)s) AS n
JOIN cloud_resources r ON r.id = (%(resource_ids)s::bigint[])[1 + (n * 7) %% %(resource_count)s]
JOIN (SELECT * FROM unnest(%(product_kinds)s::text[], %(products)s::text[])) AS p(kind, product)
  ON p.kind = r.kind
UNION ALL
SELECT %(invoice)s, %(lines)s + 1, 'Taxes', '', 'GST (10%%)', NULL, %(start)s, %(end)s, 1234.5,
       '', '', 'other', '', true, NULL, 'unmatched', 'tax', ''
"""
USAGE = """
INSERT INTO usage_records (deployment_id, resource_id, resource_kind, period_start, granularity,
                           qty, qty_numerator, qty_denominator, source, created_at)
SELECT d.id, NULL, k.kind, day, 'daily', 1 + d.id %% 24, 1 + d.id %% 24, 1, 'manual', now()
FROM cloud_deployments d
CROSS JOIN unnest(%(kinds)s::text[]) AS k(kind)
CROSS JOIN generate_series(%(start)s::timestamptz, %(last)s::timestamptz, '1 day') AS day
"""


def last_complete_month() -> dt.date:
    return previous_month(utc_today())


def write_invoices(cursor, tenants: int, months: list[dt.date]) -> None:
    """Tenant invoices of `tenant-00000`… for `months`, with their lines (per deployment of the
    tenant: plan base, an add-on, two overage lines, the LLM line; then the tax line), 80%
    issued, 10% paid, 5% void, 5% draft. Run once, on a schema without invoices."""
    params = {
        "tenants": tenants,
        "months": months,
        "month_ends": [month_end(month) for month in months],
    }
    for statement in (INVOICES, INVOICE_LINES, TAX_LINES, INVOICE_TOTALS, INVOICE_STATUSES):
        cursor.execute(statement, params)


@dataclass(frozen=True)
class Estate:
    tenants: int
    period: dt.date  # the month analysed; the month before it is there too

    @property
    def deployments(self) -> int:
        return self.tenants * DEPLOYMENTS_PER_TENANT

    @property
    def resources(self) -> int:
        return self.deployments * RESOURCES_PER_DEPLOYMENT

    @property
    def cost_lines_per_month(self) -> int:
        return self.deployments * COST_LINES_PER_DEPLOYMENT_MONTH

    @property
    def usage_days(self) -> int:
        """Days of usage rows: 30, so the full estate holds 3,000,000 rows."""
        return min(30, days_in_month(self.period))


def build_estate(estate: Estate, *, usage: bool = True, usage_months: int = 1) -> dict[str, int]:
    """Fill an empty, migrated schema; returns the row counts. `usage_months` > 1 adds the
    months before the period to the usage rows (history, as a year of retention keeps)."""
    period, previous = estate.period, previous_month(estate.period)
    now = timezone.now()
    Deployment.objects.bulk_create(
        (
            Deployment(
                tenant_id=f"tenant-{i // DEPLOYMENTS_PER_TENANT:05d}",
                slug=f"app-{i % DEPLOYMENTS_PER_TENANT}",
                display_name=f"App {i}",
            )
            for i in range(estate.deployments)
        ),
        batch_size=5000,
    )
    deployment_ids = list(Deployment.objects.order_by("id").values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            RESOURCES,
            {
                "kinds": list(RESOURCE_KINDS),
                "tenants": estate.tenants,
                "deployments": deployment_ids,
                "deployment_count": len(deployment_ids),
                "resources": estate.resources,
                "first_seen": dt.datetime.combine(previous, dt.time(), tzinfo=dt.UTC),
                "last_seen": now,
            },
        )
        write_invoices(cursor, estate.tenants, [previous, period])
        cursor.execute("SELECT id FROM cloud_resources ORDER BY id")
        resource_ids = [pk for (pk,) in cursor.fetchall()]
        for month in (previous, period):
            _cost_lines(cursor, estate, month, resource_ids)
        month = period
        for _ in range(usage_months if usage else 0):
            start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
            days = min(estate.usage_days, days_in_month(month))
            cursor.execute(
                USAGE,
                {
                    "kinds": list(USAGE_KINDS),
                    "start": start,
                    "last": start + dt.timedelta(days=days - 1),
                },
            )
            month = previous_month(month)
    FxRate.objects.create(
        from_currency="USD", to_currency="AUD", period=previous, rate=USD_AUD, entered_by="bench"
    )
    # The lines went straight into the tables: the margin summaries their writers would have
    # kept (issue 22), built from them once.
    revenue_summary_rebuild()
    cost_summary_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return row_counts()


def _cost_lines(cursor, estate: Estate, month: dt.date, resource_ids: list[int]) -> None:
    start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(month_end(month), dt.time(23, 59, 59), tzinfo=dt.UTC)
    invoice = CloudInvoice.objects.create(
        invoice_uuid=f"bench-{month:%Y-%m}",
        period=month,
        amount=Decimal("100000.00"),
        lines_ingested_at=timezone.now(),
    )
    cursor.execute(
        COST_LINES,
        {
            "invoice": invoice.pk,
            "start": start,
            "end": end,
            "lines": estate.cost_lines_per_month,
            "resource_ids": resource_ids,
            "resource_count": len(resource_ids),
            "product_kinds": list(COST_PRODUCTS),
            "products": list(COST_PRODUCTS.values()),
        },
    )


def row_counts() -> dict[str, int]:
    tables = (
        "cloud_deployments",
        "cloud_resources",
        "tenant_invoices",
        "tenant_invoice_lines",
        "cloud_cost_lines",
        "usage_records",
        "revenue_summaries",
        "cloud_cost_summaries",
        "revenue_kind_totals",
        "cloud_cost_kind_totals",
        "revenue_deployment_totals",
        "cloud_cost_deployment_totals",
        "usage_month_totals",
    )
    counts = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    return counts
