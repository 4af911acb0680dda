"""The COGS half of the margin summaries (issue 22): `cloud_cost_summaries` rows per
(DigitalOcean invoice, kind, match status, deployment, attributed tenant), rewritten from the
invoice's lines in the transaction that writes them.

The rules are analytics' (analytics/selectors.py, SPEC §14), applied once here instead of on
every read: COGS is the non-tax cost lines, attributed through the matched resource to
COALESCE(its deployment's tenant, its own tenant — an empty one counts as none); a line with no
match or no tenant is unattributed (NULL tenant).

Recompute-the-key: a writer names the invoices whose lines it (re)wrote and their rows are
deleted and re-inserted in ONE INSERT … SELECT. Writers: the invoice ingest and its re-match
(`billing.services.ingest._replace_lines`). A later source of COGS rows (billing insights'
daily COGS) writes its own key the same way through `cost_summary_refresh`.

Attribution follows the resource as the line aggregation did (it joins the resource's current
deployment and tenant): inventory's history chokepoint signals a change of a resource's
deployment or own tenant (`inventory.signals.resource_attribution_changed`) and the invoices
with lines matched to it are rewritten in that transaction (`cost_summary_reattribute`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from billing.models import (
    CloudCostDeploymentTotal,
    CloudCostKindTotal,
    CloudCostLine,
    CloudCostSummary,
    CloudInvoice,
)
from inventory.models import CloudResource
from inventory.signals import resource_attribution_changed

REATTRIBUTE_CHUNK = 5000

_DEPLOYMENTS = CloudResource._meta.get_field("deployment").related_model._meta.db_table

# Table names and constants from the models; every value is a parameter.
_INSERT = f"""
INSERT INTO {CloudCostSummary._meta.db_table}
    (invoice_id, kind, match_status, deployment_id, tenant_id, amount, lines)
SELECT l.invoice_id, l.kind, l.match_status, r.deployment_id,
       COALESCE(d.tenant_id, NULLIF(r.tenant_id, '')), SUM(l.amount), COUNT(*)
FROM {CloudCostLine._meta.db_table} l
LEFT JOIN {CloudResource._meta.db_table} r ON r.id = l.resource_id
LEFT JOIN {_DEPLOYMENTS} d ON d.id = r.deployment_id
WHERE NOT l.is_tax {{invoices}}
GROUP BY l.invoice_id, l.kind, l.match_status, r.deployment_id,
         COALESCE(d.tenant_id, NULLIF(r.tenant_id, ''))
"""  # noqa: S608


# The invoices' kind totals from the rows just written (a few per invoice; by_kind reads them).
_INSERT_KIND_TOTALS = f"""
INSERT INTO {CloudCostKindTotal._meta.db_table} (invoice_id, kind, amount, lines)
SELECT l.invoice_id, l.kind, SUM(l.amount), SUM(l.lines)
FROM {CloudCostSummary._meta.db_table} l
WHERE TRUE {{invoices}}
GROUP BY l.invoice_id, l.kind
"""  # noqa: S608


# ... and per (attributed tenant, deployment), the rows margin_summary reads.
_INSERT_DEPLOYMENT_TOTALS = f"""
INSERT INTO {CloudCostDeploymentTotal._meta.db_table}
    (invoice_id, deployment_id, tenant_id, amount, lines)
SELECT l.invoice_id, l.deployment_id, l.tenant_id, SUM(l.amount), SUM(l.lines)
FROM {CloudCostSummary._meta.db_table} l
WHERE TRUE {{invoices}}
GROUP BY l.invoice_id, l.deployment_id, l.tenant_id
"""  # noqa: S608


def cost_summary_refresh(*, invoice_ids: Iterable[int] | None) -> int:
    """Rewrite the summary rows of these DigitalOcean invoices (None: every invoice) from their
    lines, in the caller's transaction, and their kind and deployment totals; returns how many
    summary rows it wrote."""
    ids = None if invoice_ids is None else sorted(set(invoice_ids))
    if ids == []:
        return 0
    rows = CloudCostSummary.objects.all()
    where = ""
    if ids is not None:
        rows = rows.filter(invoice_id__in=ids)
        where = f"AND l.invoice_id IN ({', '.join(['%s'] * len(ids))})"
    rows.delete()
    for derived in (CloudCostKindTotal, CloudCostDeploymentTotal):
        totals = derived.objects.all()
        if ids is not None:
            totals = totals.filter(invoice_id__in=ids)
        totals.delete()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT.format(invoices=where), ids or [])
        written = cursor.rowcount
        cursor.execute(_INSERT_KIND_TOTALS.format(invoices=where), ids or [])
        cursor.execute(_INSERT_DEPLOYMENT_TOTALS.format(invoices=where), ids or [])
        return written


def cost_summary_rebuild() -> int:
    """Rewrite every invoice's rows (the migration's backfill, the benchmark's setup, a
    repair)."""
    if not CloudInvoice.objects.exists():
        CloudCostSummary.objects.all().delete()
        CloudCostKindTotal.objects.all().delete()
        CloudCostDeploymentTotal.objects.all().delete()
        return 0
    return cost_summary_refresh(invoice_ids=None)


def cost_summary_reattribute(*, resource_ids: Iterable[int]) -> int:
    """Rewrite the summary rows of every invoice with lines matched to these resources (their
    deployment or tenant changed): one indexed lookup, and nothing more when none has a line.
    Runs in the inventory writer's transaction (`inventory.signals`)."""
    ids = sorted(set(resource_ids))
    invoices: set[int] = set()
    for start in range(0, len(ids), REATTRIBUTE_CHUNK):
        chunk = ids[start : start + REATTRIBUTE_CHUNK]
        invoices.update(
            CloudCostLine.objects.filter(resource_id__in=chunk)
            .order_by()
            .values_list("invoice_id", flat=True)
            .distinct()
        )
    return cost_summary_refresh(invoice_ids=invoices)


def _on_resource_attribution_changed(sender, *, resource_ids, **kwargs) -> None:
    cost_summary_reattribute(resource_ids=resource_ids)


def connect_receivers() -> None:
    """BillingConfig.ready: keep the COGS summaries in step with inventory's attribution."""
    resource_attribution_changed.connect(
        _on_resource_attribution_changed, dispatch_uid="billing.cost_summary_reattribute"
    )
