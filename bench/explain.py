"""EXPLAIN ANALYZE of the hot queries, captured from the real code paths on the full estate of
bench/_dataset.py (5,000 tenants, 100,000 resources, 10,000 invoices, 100,000 cost lines,
3,000,000 usage rows a month for two months), so docs/performance.md can show which index
each one uses.

Each statement is captured while the product code runs (API views through the test client,
selectors and services called directly), then explained with ANALYZE; writes are explained
inside a transaction that is rolled back. Prints every plan in full.

    bin/with-postgres .venv/bin/python bench/explain.py
"""

from __future__ import annotations

import datetime as dt
import io

from _common import fresh_schema
from _dataset import Estate, build_estate, last_complete_month
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.selectors import by_kind, margin_summary
from billing.selectors import match_candidates
from deployments.models import Deployment
from invoicing.usage.metering import meter_day
from invoicing.usage.selectors import usage_for_deployments

LINE = 160  # plan lines are cut here: an id list of 10,000 deployments says nothing more


class Rollback(Exception):
    pass


def explain(title: str, sql: str, params=None, *, write: bool = False) -> None:
    print(f"\n=== {title}\n{sql[:400]}{' …' if len(sql) > 400 else ''}\n")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
            for (line,) in cursor.fetchall():
                print(f"    {line[:LINE]}{' …' if len(line) > LINE else ''}")
            if write:
                raise Rollback
    except Rollback:
        pass


def captured(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries.captured_queries]


def token(tenant: str, role: str) -> str:
    out = io.StringIO()
    call_command("mint_token", tenant=tenant, role=[role], stdout=out)
    return out.getvalue().strip()


def api(path: str, tenant: str, role: str = "tenant_user") -> list[str]:
    client = Client()
    auth = f"Bearer {token(tenant, role)}"

    def run() -> None:
        response = client.get(path, HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200, response.content[:300]

    return captured(run)


def main() -> None:
    settings.ALLOWED_HOSTS = ["*"]
    fresh_schema()
    estate = Estate(tenants=5_000, period=last_complete_month())
    rows = build_estate(estate, usage_months=2)  # history: the month analysed and the one before
    print(f"estate: {rows}")
    period = f"{estate.period:%Y-%m}"

    for n, sql in enumerate(api("/api/v1/inventory?page_size=20", "tenant-00042")):
        explain(f"inventory list of one tenant ({n + 1}/3)", sql)
    for n, sql in enumerate(
        api("/api/v1/inventory?kind=droplet&page_size=20", "ops", "platform_admin")
    ):
        explain(f"inventory list, all tenants, one kind ({n + 1}/2)", sql)
    for n, sql in enumerate(api(f"/api/v1/invoices?period={period}", "tenant-00042")):
        explain(f"invoices of one tenant and period ({n + 1}/3)", sql)
    for n, sql in enumerate(api(f"/api/v1/invoices?period={period}", "ops", "platform_admin")):
        explain(f"invoices of a period, all tenants ({n + 1}/3)", sql)

    names = {("droplet", f"res-{n:06d}") for n in range(0, 40, 10)}
    (small,) = captured(lambda: match_candidates(names))
    explain("cost-line matching lookup, a small invoice (4 names)", small)
    many = {("droplet", f"res-{n:06d}") for n in range(0, 100_000, 10)}
    (large,) = captured(lambda: match_candidates(many))
    explain("cost-line matching lookup, a large invoice (10,000 names)", large)

    tenant_deployments = list(
        Deployment.objects.filter(tenant_id__in=["tenant-00042", "tenant-00043"]).values_list(
            "pk", flat=True
        )
    )
    end = estate.period + dt.timedelta(days=estate.usage_days - 1)
    (usage,) = captured(lambda: usage_for_deployments(tenant_deployments, estate.period, end))
    explain("usage_for_deployments, one tenant's month (rollup / accrual)", usage)
    everyone = list(Deployment.objects.values_list("pk", flat=True))
    (usage_all,) = captured(lambda: usage_for_deployments(everyone, estate.period, end))
    explain("usage_for_deployments, every deployment (the rollup's one read)", usage_all)

    day = estate.period + dt.timedelta(days=estate.usage_days)
    with transaction.atomic():
        statements = captured(lambda: meter_day(day))
        transaction.set_rollback(True)
    for sql in statements:
        if "INSERT INTO usage_records" in sql:
            explain("meter_day insert (one day, every attributed resource)", sql, write=True)

    for n, sql in enumerate(captured(lambda: margin_summary(estate.period))):
        explain(f"margin_summary ({n + 1}: revenue, COGS, rate)", sql)
    for n, sql in enumerate(captured(lambda: by_kind(estate.period))):
        explain(f"by_kind ({n + 1}: revenue, rate, COGS)", sql)


if __name__ == "__main__":
    main()
