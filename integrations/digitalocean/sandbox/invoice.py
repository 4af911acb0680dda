"""The emulated DigitalOcean invoice for one billing month.

Lines are rendered from the fixture's templates, whose dates are days of the period, so the
same fixture bills any month. Amounts follow DO's rules closely enough for COGS tests:
hourly-billed resources cost `monthly * hours / 672` capped at the monthly price, rounded
half-up to a cent per line; the tax line is `rate * subtotal`, half-up.

Billing insights (`/v2/billing/{account_urn}/insights/...`) are the same lines as nightly
estimates: each day of a line costs its day's share rounded half-up to a cent ON ITS OWN
(hourly lines `monthly * 24 / 672` until the line's 672 billed hours are used up, fixed-amount
lines `amount * 24 / line hours`), so a month's daily sum differs from the invoice by a few cents
per line, deterministically, as DigitalOcean warns its nightly estimates may. Tax is no usage:
it has no data point.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from arcadia_cloud.money import cents_to_units, dollars_to_cents, round_cents

from .fixture import FixtureError, day_instant, iso, period_bounds

CSV_HEADER = (
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
# DO bills hourly up to 672 hours (4 weeks); beyond that a month costs the monthly price.
HOURS_BILLED_AT_MOST = 672
INVOICE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://arcadia.example/sandbox/do-invoices")
_LINE_KEYS = frozenset(
    {
        "product",
        "group_description",
        "description",
        "project_name",
        "category",
        "start_day",
        "end_day",
        "monthly_usd",
        "amount_usd",
        "resource_uuid",
        "resource_id",
        "sku",
        "region",
    }
)
# Billing insights' SKU per invoice product (the fixture may give its own `sku`); shaped like
# the spec's examples (`1-DO-DROP-0109`, `1-KS-K8SWN-00109`). billing.classify reads the family.
PRODUCT_SKUS = {
    "Droplets": "1-DO-DROP-0109",
    "GPU Droplets": "1-DO-GPU-0201",
    "Droplet Backups": "1-DO-BKUP-0101",
    "Droplet Snapshots": "1-DO-SNAP-0101",
    "Volume Snapshots": "1-DO-VSNAP-0101",
    "Volumes": "1-DO-VOL-0101",
    "Load Balancers": "1-DO-LB-0101",
    "Floating IPs": "1-DO-FIP-0101",
    "Reserved IPs": "1-DO-FIP-0101",
    "Managed Databases": "1-DO-DBAAS-0101",
    "Kubernetes Clusters": "1-KS-K8SWN-00109",
    "App Platform": "1-DO-APP-0101",
    "Container Registry": "1-DO-DOCR-0101",
    "Spaces Subscription": "1-DO-SPACES-0101",
}
UNKNOWN_SKU = "1-DO-MISC-0001"
DEFAULT_REGION = "syd1"
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class InvoiceLine:
    product: str
    group_description: str
    description: str
    hours: int | None
    start: dt.datetime
    end: dt.datetime
    amount_cents: int
    project_name: str
    category: str
    resource_uuid: str = ""
    resource_id: str = ""
    sku: str = ""
    region: str = ""
    monthly_cents: int | None = None  # hourly-billed lines: the monthly price they are capped at

    def daily_cents(self) -> list[tuple[dt.date, int]]:
        """The line's nightly estimates: (day, cents) for each day it covers (module doc)."""
        days = []
        day_start = self.start
        billed_hours = 0
        while day_start < self.end:
            hours = min(HOURS_PER_DAY, int((self.end - day_start).total_seconds() // 3600))
            if self.monthly_cents is not None:
                hours = min(hours, max(0, HOURS_BILLED_AT_MOST - billed_hours))
                exact = Decimal(self.monthly_cents) * hours / HOURS_BILLED_AT_MOST
            else:
                exact = Decimal(self.amount_cents) * hours / max(1, self.hours or 0)
            billed_hours += hours
            days.append((day_start.date(), round_cents(exact)))
            day_start += dt.timedelta(days=1)
        return days

    def csv_row(self) -> list[str]:
        return [
            self.product,
            self.group_description,
            self.description,
            "" if self.hours is None else str(self.hours),
            _csv_time(self.start),
            _csv_time(self.end),
            format_usd(self.amount_cents),
            self.project_name,
            self.category,
        ]

    def item(self) -> dict[str, Any]:
        """The line as `GET /v2/customers/my/invoices/{uuid}` serves it (OpenAPI
        `invoice_item`): ids only where DO knows the resource, amounts as plain strings."""
        item: dict[str, Any] = {"product": self.product}
        if self.resource_uuid:
            item["resource_uuid"] = self.resource_uuid
        if self.resource_id:
            item["resource_id"] = self.resource_id
        if self.group_description:
            item["group_description"] = self.group_description
        item.update(
            {
                "description": self.description,
                "amount": _plain(self.amount_cents),
                "duration": "" if self.hours is None else str(self.hours),
                "duration_unit": "Hours",
                "start_time": iso(self.start),
                "end_time": iso(self.end),
                "project_name": self.project_name,
                "category": self.category,
            }
        )
        return item


@dataclass(frozen=True)
class Invoice:
    uuid: str
    invoice_id: str
    period: dt.date
    issued_at: dt.datetime
    lines: tuple[InvoiceLine, ...]
    tax_product: str | None
    payment: Mapping[str, Any] | None

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def tax_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines if line.product == self.tax_product)

    def data_points(self, account_urn: str, *, before: dt.date) -> list[dict[str, Any]]:
        """Billing insights of the period's days before `before` (a day's estimate exists once
        the day has ended), day by day in line order, as the OpenAPI `billing_data_point`."""
        points = []
        for line in self.lines:
            if line.product == self.tax_product:
                continue
            for day, cents in line.daily_cents():
                if day < before:
                    points.append((day, line, cents))
        points.sort(key=lambda point: point[0])  # stable: line order within a day
        return [
            {
                "usage_team_urn": account_urn,
                "start_date": day.isoformat(),
                "total_amount": _plain(cents),
                "region": line.region or DEFAULT_REGION,
                "sku": line.sku or PRODUCT_SKUS.get(line.product, UNKNOWN_SKU),
                "description": line.description,
                "group_description": line.group_description,
            }
            for day, line, cents in points
        ]

    def csv(self) -> str:
        """The CSV DO serves at /v2/customers/my/invoices/{uuid}/csv."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(line.csv_row() for line in self.lines)
        return buffer.getvalue()

    def summary(self, account: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON DO serves at /v2/customers/my/invoices/{uuid}/summary."""
        products: dict[str, list[int]] = {}
        for line in self.lines:
            if line.product != self.tax_product:
                products.setdefault(line.product, []).append(line.amount_cents)
        return {
            "invoice_uuid": self.uuid,
            "invoice_id": self.invoice_id,
            "billing_period": f"{self.period:%Y-%m}",
            "amount": _plain(self.total_cents),
            "user_name": account.get("name", ""),
            "user_company": account.get("company", ""),
            "user_email": account.get("email", ""),
            "user_billing_address": account.get("billing_address", {}),
            "product_charges": {
                "name": "Product usage charges",
                "amount": _plain(self.total_cents - self.tax_cents),
                "items": [
                    {"name": product, "amount": _plain(sum(amounts)), "count": str(len(amounts))}
                    for product, amounts in products.items()
                ],
            },
            "overages": {"name": "Overages", "amount": "0.00"},
            "taxes": {"name": "Taxes", "amount": _plain(self.tax_cents)},
            "credits_and_adjustments": {"name": "Credits & adjustments", "amount": "0.00"},
        }

    def billing_history_entries(self) -> list[dict[str, Any]]:
        """The Invoice entry, and the Payment settling it when the fixture describes one."""
        entries: list[dict[str, Any]] = [
            {
                "description": f"Invoice for {self.period:%B %Y}",
                "amount": _plain(self.total_cents),
                "invoice_id": self.invoice_id,
                "invoice_uuid": self.uuid,
                "date": iso(self.issued_at),
                "type": "Invoice",
            }
        ]
        if self.payment is not None:
            paid_at = self.issued_at + dt.timedelta(days=self.payment.get("days_after_issue", 0))
            entries.append(
                {
                    "description": self.payment.get("description", "Payment"),
                    "amount": _plain(-self.total_cents),
                    "date": iso(paid_at),
                    "type": "Payment",
                }
            )
        return entries


def build_invoice(spec: Mapping[str, Any], period: dt.date) -> Invoice:
    """Render the fixture's `invoice` object for one period (raises FixtureError)."""
    if not isinstance(spec, Mapping):
        raise FixtureError("invoice must be an object with lines, tax and payment")
    templates = spec.get("lines", [])
    if not isinstance(templates, list):
        raise FixtureError("invoice.lines must be a list")
    lines = [_render_line(t, period, f"invoice.lines[{i}]") for i, t in enumerate(templates)]
    tax = spec.get("tax")
    if tax is not None:
        lines.append(_tax_line(tax, lines, period))
    payment = spec.get("payment")
    if payment is not None and not isinstance(payment, Mapping):
        raise FixtureError("invoice.payment must be an object with description, days_after_issue")
    invoice_uuid = uuid.uuid5(INVOICE_NAMESPACE, f"{period:%Y-%m}")
    return Invoice(
        uuid=str(invoice_uuid),
        invoice_id=str(100_000_000 + invoice_uuid.int % 900_000_000),
        period=period,
        issued_at=period_bounds(period)[1],
        lines=tuple(lines),
        tax_product=tax.get("product", "Taxes") if tax is not None else None,
        payment=payment,
    )


def format_usd(cents: int) -> str:
    """`$6.00`, `$1,008.00`: the way DO's CSV writes amounts."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${cents_to_units(abs(cents)):,.2f}"


def _render_line(template: Any, period: dt.date, where: str) -> InvoiceLine:
    if not isinstance(template, Mapping):
        raise FixtureError(f"{where} must be an object")
    unknown = set(template) - _LINE_KEYS
    if unknown:
        raise FixtureError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_LINE_KEYS)}"
        )
    for required in ("product", "description"):
        if not template.get(required):
            raise FixtureError(f"{where}: {required} is required")
    period_end = period_bounds(period)[1]
    start = day_instant(period, template.get("start_day", 1), f"{where}.start_day")
    end_day = template.get("end_day")
    end = period_end if end_day is None else day_instant(period, end_day, f"{where}.end_day")
    if end <= start:
        raise FixtureError(f"{where}: end_day must come after start_day")
    hours = int((end - start).total_seconds() // 3600)
    return InvoiceLine(
        product=template["product"],
        group_description=template.get("group_description", ""),
        description=template["description"],
        hours=hours,
        start=start,
        end=end,
        amount_cents=_line_amount_cents(template, hours, where),
        project_name=template.get("project_name", ""),
        category=template.get("category", ""),
        resource_uuid=str(template.get("resource_uuid") or ""),
        resource_id=str(template.get("resource_id") or ""),
        sku=str(template.get("sku") or ""),
        region=str(template.get("region") or ""),
        monthly_cents=(
            dollars_to_cents(_decimal(template["monthly_usd"], f"{where}.monthly_usd"))
            if "monthly_usd" in template
            else None
        ),
    )


def _line_amount_cents(template: Mapping[str, Any], hours: int, where: str) -> int:
    has_monthly, has_amount = "monthly_usd" in template, "amount_usd" in template
    if has_monthly == has_amount:
        raise FixtureError(f"{where}: give exactly one of monthly_usd (hourly) or amount_usd")
    if has_amount:
        return dollars_to_cents(_decimal(template["amount_usd"], f"{where}.amount_usd"))
    monthly = _decimal(template["monthly_usd"], f"{where}.monthly_usd")
    if hours >= HOURS_BILLED_AT_MOST:
        return dollars_to_cents(monthly)
    return dollars_to_cents(monthly * hours / HOURS_BILLED_AT_MOST)


def _tax_line(tax: Any, lines: list[InvoiceLine], period: dt.date) -> InvoiceLine:
    if not isinstance(tax, Mapping) or not tax.get("description"):
        raise FixtureError("invoice.tax must be an object with description and rate")
    rate = _decimal(tax.get("rate"), "invoice.tax.rate")
    start, end = period_bounds(period)
    return InvoiceLine(
        product=tax.get("product", "Taxes"),
        group_description="",
        description=tax["description"],
        hours=None,
        start=start,
        end=end,
        amount_cents=round_cents(Decimal(sum(line.amount_cents for line in lines)) * rate),
        project_name="",
        category="",
    )


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise FixtureError(f'{where} must be a decimal string like "12.00", not {value!r}')
    try:
        return Decimal(value)
    except InvalidOperation:
        raise FixtureError(f"{where}: {value!r} is not a decimal number") from None


def _plain(cents: int) -> str:
    """JSON amounts: `1360.13`, no currency sign, no separators (as DO's JSON writes them)."""
    return str(cents_to_units(cents))


def _csv_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S %z")
