"""Daily COGS: DigitalOcean's billing insights (one data point per day, SKU, region and
description) → `cloud_daily_costs`, each row matched to a resource the way invoice lines are.

Network first, then ONE durable transaction per range: under the daily-cost lock, each day of
the range has its rows deleted and the new set inserted, and its `cloud_cost_days` row updated.
Re-running a day replaces it, never duplicates it (unique (day, position)). A range is taken
whole or not at all: a DigitalOcean error, an unreadable data point or one outside the range
records the reason on each day's row (one UPDATE outside the transaction) and raises; the
previous rows, counts and totals stay as they were.

A day of the range with no data point is taken as a day DigitalOcean charged nothing for (its
previous rows are removed): only days that have ended are asked for (the range ends yesterday
at the latest), and DigitalOcean publishes a day's estimate once the day is over.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from arcadia_cloud.bulk import bulk_insert
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import ApplicationError, field_error
from arcadia_cloud.validation import clean_date
from billing.classify import product_for_sku
from billing.csv_parser import AMOUNT_LIMIT
from billing.locks import lock_daily_costs
from billing.models import CloudCostDay, CloudDailyCost, MatchStatus
from billing.selectors import LineToMatch, lines_classify_and_match
from integrations.digitalocean import DigitalOceanClient, DigitalOceanError

logger = logging.getLogger(__name__)

# DigitalOcean serves at most 31 days after start_date (billingInsights_list: "end_date ...
# must be within 31 days of start_date").
MAX_RANGE_DAYS = 31
BULK_BATCH = 1000
ZERO = Decimal("0.00")
KEPT = "previous rows kept"


class DailyCostsRejected(ApplicationError):
    """DigitalOcean's billing insights for the range cannot be taken as they stand."""

    status_code = 422
    code = "daily_costs_rejected"


@dataclass(frozen=True)
class DailyIngestResult:
    start: dt.date
    end: dt.date
    days: int
    rows: int
    matched: int
    unmatched: int
    ambiguous: int
    amount: Decimal

    def summary(self) -> str:
        return (
            f"daily costs {self.start}..{self.end}: {self.days} days, {self.rows} rows, "
            f"{self.matched} matched, {self.unmatched} unmatched, {self.ambiguous} ambiguous; "
            f"{self.amount} USD"
        )


def daily_range_clean(start: object, end: object, *, today: dt.date | None = None) -> tuple:
    """[start, end] as days DigitalOcean can answer for: start ≤ end, at most 31 days apart,
    ending before today (a day's estimate exists once it is over). FieldError names the field."""
    start = clean_date("start_date", start)
    end = clean_date("end_date", end)
    today = today or utc_today()
    if end < start:
        raise field_error("end_date", f"{end} is before start_date {start}")
    if (end - start).days > MAX_RANGE_DAYS:
        raise field_error(
            "end_date", f"{end} is more than {MAX_RANGE_DAYS} days after start_date {start}"
        )
    if end >= today:
        raise field_error(
            "end_date",
            f"{end} has not ended yet (today is {today} UTC); DigitalOcean publishes a day's "
            "costs once it is over",
        )
    return start, end


def daily_default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """What the nightly run takes: the month of yesterday, from its 1st through yesterday, so
    a day DigitalOcean revised is replaced too (on the 1st: the whole previous month)."""
    yesterday = (today or utc_today()) - dt.timedelta(days=1)
    return yesterday.replace(day=1), yesterday


def billing_account_urn() -> str:
    """`DO_BILLING_ACCOUNT_URN` (`do:team:<uuid>` or `do:teamgroup:<uuid>`), or "" when unset."""
    return str(getattr(settings, "DO_BILLING_ACCOUNT_URN", "") or "").strip()


def daily_costs_ingest(
    *,
    client: DigitalOceanClient,
    start: dt.date,
    end: dt.date,
    account_urn: str | None = None,
    today: dt.date | None = None,
) -> DailyIngestResult:
    """Fetch [start, end]'s billing insights and replace those days' rows (see module doc).

    Raises FieldError for a bad range or URN (nothing fetched, nothing recorded),
    DailyCostsRejected for data points that cannot be taken, DigitalOcean's errors for failed
    requests and anything unexpected as it came — each of the last three after recording the
    reason on the range's days; their rows are left as they were."""
    start, end = daily_range_clean(start, end, today=today)
    urn = (account_urn if account_urn is not None else billing_account_urn()).strip()
    if not urn.startswith(("do:team:", "do:teamgroup:")):
        raise field_error(
            "account_urn",
            f"{urn!r} is not a DigitalOcean team or organization URN (do:team:<uuid>, "
            "do:teamgroup:<uuid>); set DO_BILLING_ACCOUNT_URN",
        )
    try:
        points = client.list_billing_insights(urn, start, end)
        rows = daily_cost_rows_build(points, start=start, end=end)
        result = _replace_days(start, end, rows)
    except DailyCostsRejected as exc:
        _failure_record(start, end, exc.message)
        raise
    except DigitalOceanError as exc:
        _failure_record(start, end, f"daily cost ingest failed, {KEPT}: {exc}")
        raise
    except Exception as exc:
        _failure_record(
            start,
            end,
            f"daily cost ingest failed unexpectedly, {KEPT}: {type(exc).__name__}: {exc}",
        )
        raise
    logger.info("%s", result.summary())
    return result


def daily_cost_rows_build(
    points: Sequence[Any], *, start: dt.date, end: dt.date
) -> list[CloudDailyCost]:
    """Read, classify and match the data points (unsaved rows, numbered per day in
    DigitalOcean's order). A point that is not one of the range's days with a USD amount
    refuses the whole set (DailyCostsRejected naming the point and field)."""
    read = [_read_point(point, index, start, end) for index, point in enumerate(points)]
    verdicts = lines_classify_and_match(
        [
            LineToMatch(
                product=point["product"],
                description=point["description"],
                group_description=point["group_description"],
                start=_midnight(point["day"]),
                end=_midnight(point["day"] + dt.timedelta(days=1)),
            )
            for point in read
        ]
    )
    positions: Counter[dt.date] = Counter()
    rows = []
    for point, (line_class, verdict) in zip(read, verdicts, strict=True):
        positions[point["day"]] += 1
        rows.append(
            CloudDailyCost(
                day=point["day"],
                position=positions[point["day"]],
                sku=point["sku"],
                region=point["region"],
                description=point["description"],
                group_description=point["group_description"],
                product=point["product"],
                amount=point["amount"],
                usage_team_urn=point["usage_team_urn"],
                kind=line_class.kind,
                resource_name=line_class.resource_name,
                is_tax=line_class.is_tax,
                resource_id=verdict.resource_id,
                match_status=verdict.status,
                match_code=verdict.code,
                match_reason=verdict.reason,
            )
        )
    return rows


def _read_point(point: Any, index: int, start: dt.date, end: dt.date) -> dict[str, Any]:
    where = f"data_points[{index}]"
    if not isinstance(point, Mapping):
        _reject(where, "data point", f"is a {type(point).__name__}, not an object")
    raw_day = point.get("start_date")
    try:
        day = dt.date.fromisoformat(raw_day) if isinstance(raw_day, str) else None
    except ValueError:
        day = None
    if day is None:
        _reject(where, "start_date", f"{raw_day!r} is not a date (YYYY-MM-DD)")
    if not start <= day <= end:
        _reject(where, "start_date", f"{day} is outside the requested {start}..{end}")
    raw_amount = point.get("total_amount")
    try:
        amount = Decimal(str(raw_amount).strip()) if isinstance(raw_amount, str | int) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or abs(amount) >= AMOUNT_LIMIT:
        _reject(where, "total_amount", f"{raw_amount!r} is not an amount in USD")
    sku = _text(point.get("sku"))
    description = _text(point.get("description"))
    if not sku:
        _reject(where, "sku", "is missing")
    return {
        "day": day,
        "amount": amount,
        "sku": sku[:64],
        "product": product_for_sku(sku),
        "region": _text(point.get("region"))[:32],
        "description": description,
        "group_description": _text(point.get("group_description")),
        "usage_team_urn": _text(point.get("usage_team_urn"))[:128],
    }


def _reject(where: str, field: str, problem: str) -> None:
    message = f"billing insights refused, {KEPT}: {where}.{field} {problem}"
    raise DailyCostsRejected(message, fields={f"{where}.{field}": [problem]})


def _text(value: Any) -> str:
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


@transaction.atomic(durable=True)
def _replace_days(start: dt.date, end: dt.date, rows: list[CloudDailyCost]) -> DailyIngestResult:
    lock_daily_costs()
    days = _days(start, end)
    CloudDailyCost.objects.filter(day__gte=start, day__lte=end).delete()
    bulk_insert(CloudDailyCost, rows, batch_size=BULK_BATCH)
    now = timezone.now()
    by_day: dict[dt.date, list[CloudDailyCost]] = {day: [] for day in days}
    for row in rows:
        by_day[row.day].append(row)
    existing = CloudCostDay.objects.in_bulk(days, field_name="day")
    records = []
    for day, day_rows in by_day.items():
        record = existing.get(day) or CloudCostDay(day=day)
        record.row_count = len(day_rows)
        record.matched_count = sum(r.match_status == MatchStatus.MATCHED for r in day_rows)
        record.amount = sum((r.amount for r in day_rows), ZERO)
        record.ingested_at = now
        record.last_attempt_at = now
        record.last_error = ""
        records.append(record)
    CloudCostDay.objects.bulk_create(
        records,
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=[
            "row_count",
            "matched_count",
            "amount",
            "ingested_at",
            "last_attempt_at",
            "last_error",
        ],
    )
    statuses = Counter(row.match_status for row in rows)
    return DailyIngestResult(
        start=start,
        end=end,
        days=len(days),
        rows=len(rows),
        matched=statuses[MatchStatus.MATCHED],
        unmatched=statuses[MatchStatus.UNMATCHED],
        ambiguous=statuses[MatchStatus.AMBIGUOUS],
        amount=sum((row.amount for row in rows), ZERO),
    )


def _failure_record(start: dt.date, end: dt.date, message: str) -> None:
    """Store why the range failed on each of its days (creating the day's row if it has none),
    touching nothing else; a database that cannot store it must not hide the original error."""
    message = message.replace("\x00", "\\x00")
    logger.warning("daily costs %s..%s: %s", start, end, message)
    now = timezone.now()
    try:
        CloudCostDay.objects.bulk_create(
            [
                CloudCostDay(day=day, last_attempt_at=now, last_error=message)
                for day in _days(start, end)
            ],
            update_conflicts=True,
            unique_fields=["day"],
            update_fields=["last_attempt_at", "last_error"],
        )
    except DatabaseError:
        logger.exception("daily costs %s..%s: could not record the failure", start, end)
