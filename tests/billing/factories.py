"""Builders for billing tests: invoice CSV text, invoices, inventory rows, a faked DO API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import responses

from billing.models import CloudCostDay, CloudCostLine, CloudDailyCost, CloudInvoice
from integrations.digitalocean import DigitalOceanClient

PERIOD = dt.date(2026, 4, 1)
PERIOD_START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
PERIOD_END = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
HEADER = (
    "product",
    "group_description",
    "description",
    "hours",
    "start",
    "end",
    "USD",
    "project_name",
    "category",
)
DO_BASE_URL = "https://do.test"

_ids = itertools.count(1)


def csv_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S %z")


def day(number: int) -> dt.datetime:
    """00:00 UTC on day `number` of April 2026 (day 31 is 1 May)."""
    return PERIOD_START + dt.timedelta(days=number - 1)


def line(
    product: str = "Droplets",
    description: str = "web-1 (s-1vcpu-1gb)",
    usd: str = "$6.00",
    *,
    start: dt.datetime = PERIOD_START,
    end: dt.datetime = PERIOD_END,
    hours: str | None = None,
    **extra: str,
) -> dict[str, str]:
    row = {
        "product": product,
        "group_description": "",
        "description": description,
        "hours": hours if hours is not None else str(int((end - start).total_seconds() // 3600)),
        "start": csv_time(start),
        "end": csv_time(end),
        "USD": usd,
        "project_name": "Acme Corp",
        "category": "iaas",
    }
    row.update(extra)
    return row


def invoice_csv(rows: Iterable[Mapping[str, str]], header: Sequence[str] = HEADER) -> str:
    """CSV text with `header` in that order (columns not in the header are dropped)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return buffer.getvalue()


def make_invoice(**overrides: Any) -> CloudInvoice:
    number = next(_ids)
    values: dict[str, Any] = {
        "invoice_uuid": f"00000000-0000-4000-8000-{number:012d}",
        "invoice_id": str(100 + number),
        "period": PERIOD,
        "issued_at": PERIOD_END,
        "amount": Decimal("100.00"),
    }
    values.update(overrides)
    return CloudInvoice.objects.create(**values)


def do_client(**kwargs: Any) -> DigitalOceanClient:
    kwargs.setdefault("sleep", lambda seconds: None)
    return DigitalOceanClient(DO_BASE_URL, "test-token", **kwargs)


FILE_TOTAL = "the file's total"


def file_total(csv_text: str) -> str | None:
    """The sum of the USD column, as DigitalOcean's summary would state it for this file.

    Computed here with plain string handling, not by the parser under test; None when the file
    has no USD column or an amount this simple reading does not understand.
    """
    reader = csv.DictReader(io.StringIO(csv_text))
    if "USD" not in (reader.fieldnames or ()):
        return None
    total = Decimal(0)
    for row in reader:
        text = (row["USD"] or "").strip()
        negative = text.startswith(("-", "("))
        digits = text.strip("()-$ ").replace(",", "")
        try:
            amount = Decimal(digits)
        except InvalidOperation:
            return None
        total += -amount if negative else amount
    # Half-up to the cent, as the ingest's reconciliation rounds (Decimal's own formatting
    # would round half-even: 1.605 -> "1.60", a cent short of the invoice DigitalOcean states).
    return f"{total.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def serve_invoice(
    rsps: responses.RequestsMock,
    invoice_uuid: str,
    csv_text: str | bytes,
    *,
    billing_period: str | None = "2026-04",
    amount: Any = FILE_TOTAL,
    items: Sequence[Mapping[str, Any]] = (),
) -> None:
    """DigitalOcean's summary and CSV endpoints for one invoice (replacing earlier ones).

    The summary's `amount` is the file's own total unless given (None: a summary without one).
    """
    summary: dict[str, Any] = {"invoice_uuid": invoice_uuid}
    if billing_period is not None:
        summary["billing_period"] = billing_period
    if amount == FILE_TOTAL:
        amount = file_total(csv_text) if isinstance(csv_text, str) else None
    if amount is not None:
        summary["amount"] = amount
    base = f"{DO_BASE_URL}/v2/customers/my/invoices/{invoice_uuid}"
    # The JSON invoice: no items (an account whose lines carry no ids) unless given.
    items_body = {"invoice_items": list(items), "links": {}, "meta": {"total": len(items)}}
    rsps.upsert(responses.GET, base, json=items_body)
    rsps.upsert(responses.GET, f"{base}/summary", json=summary)
    rsps.upsert(responses.GET, f"{base}/csv", body=csv_text, content_type="text/csv; charset=utf-8")


def make_line(invoice: CloudInvoice, **overrides: Any) -> CloudCostLine:
    number = overrides.pop("line_number", None) or invoice.lines.count() + 1
    values: dict[str, Any] = {
        "product": "Droplets",
        "description": f"web-{number} (s-1vcpu-1gb)",
        "hours": Decimal(720),
        "start_at": PERIOD_START,
        "end_at": PERIOD_END,
        "amount": Decimal("6.00"),
        "project_name": "Acme Corp",
        "category": "iaas",
        "kind": "droplet",
        "resource_name": f"web-{number}",
    }
    values.update(overrides)
    if values.get("resource") is not None:
        values.setdefault("match_status", "matched")
        values.setdefault("match_code", "live")
    values.setdefault("match_status", "unmatched")
    values.setdefault("match_code", "not_in_inventory")
    values.setdefault("match_reason", f"no droplet named 'web-{number}' in inventory")
    return CloudCostLine.objects.create(invoice=invoice, line_number=number, **values)


class GrowingCsv(io.RawIOBase):
    """An invoice CSV of `size` bytes produced as it is read — the header, then one row over and
    over — so a test can serve a huge download that never exists whole. `served` counts the
    bytes read from it. Wrap it in `io.BufferedReader` to hand it to `responses` as a body."""

    def __init__(self, size: int) -> None:
        header, row = invoice_csv([line()]).encode().split(b"\n", 1)
        self._pieces = itertools.chain([header + b"\n"], itertools.repeat(row))
        self._pending = b""
        self.size, self.served = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.served)
        pieces, have = [self._pending], len(self._pending)
        while have < count:
            pieces.append(next(self._pieces))
            have += len(pieces[-1])
        data = b"".join(pieces)
        buffer[:count], self._pending = data[:count], data[count:]
        self.served += count
        return count


def make_daily_cost(day_: dt.date, usd: str, **overrides: Any) -> CloudDailyCost:
    """One billing-insights row of `day_`, matched to `resource` when given, and its day marked
    ingested (a month's COGS source counts ingested days)."""
    position = CloudDailyCost.objects.filter(day=day_).count() + 1
    values: dict[str, Any] = {
        "sku": "1-DO-DROP-0109",
        "region": "syd1",
        "description": f"web-{position} (s-1vcpu-1gb)",
        "product": "Droplets",
        "amount": Decimal(usd),
        "kind": "droplet",
        "resource_name": f"web-{position}",
    }
    values.update(overrides)
    if values.get("resource") is not None:
        values.setdefault("match_status", "matched")
        values.setdefault("match_code", "live")
    values.setdefault("match_status", "unmatched")
    values.setdefault("match_code", "not_in_inventory")
    row = CloudDailyCost.objects.create(day=day_, position=position, **values)
    CloudCostDay.objects.update_or_create(
        day=day_, defaults={"ingested_at": dt.datetime.now(dt.UTC)}
    )
    return row
