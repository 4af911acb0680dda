"""`manage.py ingest_cost_invoices [--invoice UUID] [--force-push]`

Syncs DigitalOcean billing history, then ingests one invoice (--invoice, even if already
ingested) or every invoice not ingested yet, pushing each to finance, and prints per invoice its
lines, match counts, net / tax / gross and the finance outcome.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.errors import NotFound
from billing.models import CloudInvoice
from billing.selectors import invoice_get, invoices_pending_ingest
from billing.services import (
    FinanceUnavailable,
    InvoiceRejected,
    billing_history_sync,
    finance_push,
    invoice_ingest,
)
from integrations.digitalocean import DigitalOceanClient, DigitalOceanError, client_for


class Command(BaseCommand):
    help = "Sync DigitalOcean billing history, ingest invoices (COGS) and push them to finance."

    def add_arguments(self, parser):
        parser.add_argument("--invoice", metavar="UUID", help="Only this invoice (re-ingested).")
        parser.add_argument(
            "--force-push",
            action="store_true",
            help="Push to finance even when finance already has the same figures.",
        )

    def handle(self, *args, invoice: str | None = None, force_push: bool = False, **options):
        client = client_for("billing")
        if client is None:
            raise CommandError(
                "No DigitalOcean billing token: set DO_TOKEN_BILLING or DO_API_TOKEN "
                "(and DO_API_BASE_URL for the sandbox)."
            )
        try:
            history = billing_history_sync(client=client, enqueue_ingest=False)
        except DigitalOceanError as exc:
            raise CommandError(f"billing history sync failed: {exc}") from exc
        self.stdout.write(history.summary())
        invoices = self._selected(invoice)
        if not invoices:
            self.stdout.write("Nothing to ingest: every invoice is ingested already.")
        failures = sum(not self._ingest(inv, client, force_push=force_push) for inv in invoices)
        if failures:
            raise CommandError(f"{failures} invoice(s) failed; see last_error in the admin.")

    def _selected(self, invoice_uuid: str | None) -> list[CloudInvoice]:
        if invoice_uuid is None:
            return list(invoices_pending_ingest())
        try:
            return [invoice_get(invoice_uuid=invoice_uuid)]
        except NotFound as exc:
            raise CommandError(exc.message) from exc

    def _ingest(
        self, invoice: CloudInvoice, client: DigitalOceanClient, *, force_push: bool
    ) -> bool:
        try:
            result = invoice_ingest(invoice=invoice, client=client, push_to_finance=False)
        except (InvoiceRejected, DigitalOceanError) as exc:
            self.stderr.write(f"invoice {invoice.invoice_uuid}: ingest failed: {exc}")
            return False
        self.stdout.write(
            f"invoice {result.invoice_uuid} ({result.period:%Y-%m}): {result.line_count} lines; "
            f"{result.matched} matched, {result.unmatched} unmatched, "
            f"{result.ambiguous} ambiguous; net {result.net_amount:.2f} + tax "
            f"{result.tax_amount:.2f} = gross {result.gross_amount:.2f} USD"
        )
        try:
            pushed = finance_push(invoice=invoice, force=force_push)
        except FinanceUnavailable as exc:
            self.stderr.write(f"  finance: {exc}")
            return False
        detail = f" (id {pushed.finance_invoice_id})" if pushed.finance_invoice_id else ""
        reason = f": {pushed.detail}" if pushed.detail else ""
        self.stdout.write(f"  finance: {pushed.status}{detail}{reason}")
        return pushed.status != "rejected"
