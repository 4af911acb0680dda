from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.money import cents_to_units
from arcadia_cloud.periods import parse_period
from invoicing.invoices.rollup import RollupOutcome, RollupReport, TenantResult, roll_up_period

COLUMNS = ("tenant", "outcome", "invoice", "status", "currency", "subtotal", "tax", "total", "note")


def _units(cents: int | None) -> str:
    return "" if cents is None else str(cents_to_units(cents))


def _row(result: TenantResult) -> tuple[str, ...]:
    note = result.reason or "; ".join(result.warnings)
    return (
        result.tenant_id,
        str(result.outcome),
        "" if result.invoice_id is None else str(result.invoice_id),
        result.invoice_status or "",
        result.currency or "",
        _units(result.subtotal_cents),
        _units(result.tax_cents),
        _units(result.total_cents),
        note,
    )


def render_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    """Plain fixed-width columns; the last column is left unpadded (free text)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]]).rstrip()

    return [line(header), line(tuple("-" * len(name) for name in header)), *map(line, rows)]


class Command(BaseCommand):
    help = (
        "Invoice a month: one draft invoice per tenant with a subscription active in it. "
        "Idempotent: tenants already invoiced are skipped; --force regenerates DRAFT invoices "
        "only (issued, paid and void ones are left alone). Exits non-zero when a tenant failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="the month, YYYY-MM (or YYYY-MM-01)")
        parser.add_argument(
            "--force", action="store_true", help="regenerate existing DRAFT invoices"
        )
        parser.add_argument(
            "--tenant",
            dest="tenants",
            action="append",
            metavar="TENANT_ID",
            help="only this tenant (repeatable)",
        )

    def handle(self, *args, period: str, force: bool, tenants: list[str] | None, **options):
        try:
            period_start = parse_period(period)
        except ValueError as exc:
            raise CommandError(f"--period: {exc}") from None
        try:
            report = roll_up_period(
                period_start, force=force, tenant_ids=tenants, actor="command:rollup"
            )
        except CALLER_ERRORS as exc:
            raise CommandError(str(exc)) from None
        self._print(report)
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} tenant(s) failed (see above); fix them and run again — "
                "tenants already invoiced are skipped"
            )

    def _print(self, report: RollupReport) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(report.summary()))
        if report.results:
            for text in render_table([_row(result) for result in report.results], COLUMNS):
                self.stdout.write(text)
        else:
            self.stdout.write("No subscription was active in the period: nothing to invoice.")
        totals = report.totals_by_currency()
        if totals:
            self.stdout.write("")
            self.stdout.write("Written this run, by currency:")
            rows = [
                (
                    entry.currency,
                    str(entry.invoices),
                    _units(entry.subtotal_cents),
                    _units(entry.tax_cents),
                    _units(entry.total_cents),
                )
                for entry in totals
            ]
            header = ("currency", "invoices", "subtotal", "tax", "total")
            for text in render_table(rows, header):
                self.stdout.write(text)
        for result in report.with_outcome(RollupOutcome.FAILED):
            self.stderr.write(self.style.ERROR(f"FAILED {result.tenant_id}: {result.reason}"))
