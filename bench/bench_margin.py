"""`margin_summary` and `by_kind` over a reseller's month (bench/_dataset.py): 5,000 tenants,
10,000 deployments, 100,000 resources attached to them, 10,000 tenant invoices (two months)
with 110,000 lines, 100,000 DigitalOcean cost lines matched to those resources, a USD→AUD rate
and 3,000,000 usage rows.

Issue 22: the selectors read the maintained summaries (`revenue_summaries`,
`cloud_cost_summaries`); the line aggregations they replaced (`margin_summary_from_lines`,
`by_kind_from_lines`) are the ceiling measured in the same run on the same data, and the two
must return exactly the same report (checked here at every size). Each selector is timed as the
dashboard calls it (median of 9, after one warm-up call), at 1x / 3x / 10x data (500, 1,500,
5,000 tenants) to show how it grows.

The margin dashboard's call is a page (`margin_page`: the whole period's overall figures and 50
tenants with their deployments; the API's `page_size` / `after`): timed on the first page and
on a deep one (after four fifths of the tenants), and every page walked once to check that the
pages, concatenated, are the whole report. The whole report (`margin_summary`, every tenant and
deployment in one response) is timed and reported as well.

Target: the summaries ≤ 10 % of the line aggregation's time, each selector (margin: the
dashboard's page, the slower of the two), at full size. A
second line times the pricing advisor (`analytics.advisor.pricing_advice`, issue 18) on the same
data: ≤ 500 ms at full size."""

from __future__ import annotations

import statistics
import time

from _common import counting_queries, fresh_schema, report, vs_ceiling
from _dataset import Estate, build_estate, last_complete_month

from analytics.advisor import pricing_advice
from analytics.selectors import (
    by_kind,
    by_kind_from_lines,
    margin_page,
    margin_summary,
    margin_summary_from_lines,
)

SIZES = (500, 1_500, 5_000)
REPEATS = 9
TARGET_RATIO = 0.10
TARGET_MS = 500
PAGE_SIZE = 50


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
    period = estate.period
    summary = margin_summary(period)
    assert summary == margin_summary_from_lines(period), "margin_summary differs from the lines"
    assert by_kind(period) == by_kind_from_lines(period), "by_kind differs from the lines"
    assert len(summary["tenants"]) >= tenants and summary["overall"]["margin_cents"] is not None
    assert_pages_are_the_report(period, summary)
    deep = summary["tenants"][len(summary["tenants"]) * 4 // 5 - 1]["tenant_id"]
    figures = {"tenants": tenants, "rows": rows}
    for name, call in (
        ("page", lambda period: margin_page(period, limit=PAGE_SIZE)),
        ("deep_page", lambda period: margin_page(period, after=deep, limit=PAGE_SIZE)),
        ("margin", margin_summary),
        ("margin_lines", margin_summary_from_lines),
        ("by_kind", by_kind),
        ("by_kind_lines", by_kind_from_lines),
        ("advisor", pricing_advice),
    ):
        figures[f"{name}_ms"], figures[f"{name}_queries"] = median_ms(call, period)
    return figures


def assert_pages_are_the_report(period, summary: dict) -> None:
    tenants, deployments, after = [], [], None
    while True:
        page = margin_page(period, after=after, limit=PAGE_SIZE)
        assert page["overall"] == summary["overall"], "a page's overall differs from the report"
        tenants += page["tenants"]
        deployments += page["deployments"]
        if (after := page["next_after"]) is None:
            break
    assert (tenants, deployments) == (summary["tenants"], summary["deployments"]), "pages differ"


def main() -> None:
    runs = [measure(tenants) for tenants in SIZES]
    full = runs[-1]
    lines_ms = full["margin_lines_ms"]
    page_ms = max(full["page_ms"], full["deep_page_ms"])
    page_ratio = page_ms / lines_ms
    margin_ratio = full["margin_ms"] / lines_ms
    kinds_ratio = full["by_kind_ms"] / full["by_kind_lines_ms"]
    report(
        "margin dashboard (a page of 50 tenants) / by_kind from the summaries vs from 100,000 "
        "invoice lines and 100,000 cost lines (10,000 invoices, 3,000,000 usage rows)",
        result=(
            f"page {full['page_ms']:.1f} ms (first) / {full['deep_page_ms']:.1f} ms (deep), "
            f"by_kind {full['by_kind_ms']:.0f} ms (median of {REPEATS}); from the lines "
            f"{lines_ms:.0f} ms / {full['by_kind_lines_ms']:.0f} ms in the same run: ratio "
            f"{page_ratio:.3f} / {kinds_ratio:.3f}; the whole report (every tenant and "
            f"deployment) {full['margin_ms']:.0f} ms, ratio {margin_ratio:.3f}"
        ),
        target=f"≤ {TARGET_RATIO:.2f} of the line aggregation, each",
        met=page_ratio <= TARGET_RATIO and kinds_ratio <= TARGET_RATIO,
        ceiling_ms={
            "margin_summary_from_lines": round(lines_ms, 1),
            "by_kind_from_lines": round(full["by_kind_lines_ms"], 1),
        },
        ratio={
            "margin_page": round(page_ratio, 3),
            "by_kind": round(kinds_ratio, 3),
            "margin_summary_whole_report": round(margin_ratio, 3),
        },
        vs_ceiling=[
            vs_ceiling(
                f"margin page {page_ms:.1f} ms",
                f"from the lines {lines_ms:.0f} ms",
                page_ratio,
                "of the old selector's time",
            ),
            vs_ceiling(
                f"by_kind {full['by_kind_ms']:.0f} ms",
                f"from the lines {full['by_kind_lines_ms']:.0f} ms",
                kinds_ratio,
                "of the old selector's time",
            ),
        ],
        rows=full["rows"],
        queries={
            "margin_page": full["page_queries"],
            "margin_summary": full["margin_queries"],
            "by_kind": full["by_kind_queries"],
        },
        growth_columns=[
            "page",
            "deep page",
            "whole report",
            "by_kind",
            "whole report from the lines",
            "by_kind from the lines",
        ],
        growth_ms={
            f"{run['tenants']:,} tenants": [
                round(run["page_ms"], 1),
                round(run["deep_page_ms"], 1),
                round(run["margin_ms"], 1),
                round(run["by_kind_ms"], 1),
                round(run["margin_lines_ms"]),
                round(run["by_kind_lines_ms"]),
            ]
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
