"""`margin_summary` and `by_kind` over a reseller's month (bench/_dataset.py): 5,000 tenants,
10,000 deployments, 100,000 resources attached to them, 10,000 tenant invoices (two months)
with 110,000 lines, 100,000 DigitalOcean cost lines matched to those resources, a USD→AUD rate
and 3,000,000 usage rows. Each selector is timed as the dashboard calls it (median of 9, after
one warm-up call), at 1x / 3x / 10x data (500, 1,500, 5,000 tenants) to show how it grows.

Target: ≤ 500 ms each at full size. A second line times the pricing advisor
(`analytics.advisor.pricing_advice`, issue 18) on the same data: ≤ 500 ms at full size."""

from __future__ import annotations

import statistics
import time

from _common import counting_queries, fresh_schema, report
from _dataset import Estate, build_estate, last_complete_month

from analytics.advisor import pricing_advice
from analytics.selectors import by_kind, margin_summary

SIZES = (500, 1_500, 5_000)
REPEATS = 9
TARGET_MS = 500


def median_ms(call, period) -> tuple[float, int]:
    call(period)  # warm-up: the first call pays for the catalog of plans and cold caches
    times = []
    for _ in range(REPEATS):
        with counting_queries() as queries:
            began = time.perf_counter()
            call(period)
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, queries.count


def measure(tenants: int) -> dict:
    fresh_schema()
    estate = Estate(tenants=tenants, period=last_complete_month())
    rows = build_estate(estate)
    margin, margin_queries = median_ms(margin_summary, estate.period)
    kinds, kinds_queries = median_ms(by_kind, estate.period)
    advice, advice_queries = median_ms(pricing_advice, estate.period)
    summary = margin_summary(estate.period)
    assert len(summary["tenants"]) >= tenants and summary["overall"]["margin_cents"] is not None
    return {
        "tenants": tenants,
        "rows": rows,
        "margin_ms": margin,
        "by_kind_ms": kinds,
        "advisor_ms": advice,
        "queries": (margin_queries, kinds_queries),
        "advisor_queries": advice_queries,
    }


def main() -> None:
    runs = [measure(tenants) for tenants in SIZES]
    full = runs[-1]
    rows = full["rows"]
    report(
        "margin_summary / by_kind, 3,000,000 usage rows, 100,000 cost lines, 10,000 invoices",
        result=f"{full['margin_ms']:.0f} ms / {full['by_kind_ms']:.0f} ms (median of {REPEATS})",
        target=f"≤ {TARGET_MS} ms each",
        met=full["margin_ms"] <= TARGET_MS and full["by_kind_ms"] <= TARGET_MS,
        rows=rows,
        queries={"margin_summary": full["queries"][0], "by_kind": full["queries"][1]},
        growth_ms={
            f"{run['tenants']:,} tenants": [round(run["margin_ms"]), round(run["by_kind_ms"])]
            for run in runs
        },
    )
    report(
        "pricing advisor (pricing_advice), the same data set",
        result=f"{full['advisor_ms']:.0f} ms (median of {REPEATS})",
        target=f"≤ {TARGET_MS} ms",
        met=full["advisor_ms"] <= TARGET_MS,
        queries=full["advisor_queries"],
        growth_ms={f"{run['tenants']:,} tenants": round(run["advisor_ms"]) for run in runs},
    )


if __name__ == "__main__":
    main()
