"""`manage.py ingest_daily_costs [--start YYYY-MM-DD] [--end YYYY-MM-DD]`

Replaces the days [start, end] of DigitalOcean's daily costs (billing insights; default: the
month of yesterday through yesterday, as the nightly task does) and prints what was taken.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.errors import CALLER_ERRORS
from billing.services import daily_costs_ingest, daily_default_range
from integrations.digitalocean import DigitalOceanError, client_for


def _day(field: str, raw: str | None) -> dt.date | None:
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{field}: {raw!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Ingest DigitalOcean's daily costs (billing insights) for a range of days."

    def add_arguments(self, parser):
        parser.add_argument("--start", metavar="YYYY-MM-DD", help="First day (default: the 1st).")
        parser.add_argument("--end", metavar="YYYY-MM-DD", help="Last day (default: yesterday).")

    def handle(self, *args, start: str | None = None, end: str | None = None, **options):
        first, last = daily_default_range()
        first = _day("start_date", start) or first
        last = _day("end_date", end) or last
        client = client_for("billing")
        if client is None:
            raise CommandError(
                "No DigitalOcean billing token: set DO_TOKEN_BILLING or DO_API_TOKEN "
                "(and DO_API_BASE_URL for the sandbox)."
            )
        try:
            result = daily_costs_ingest(client=client, start=first, end=last)
        except CALLER_ERRORS as exc:
            raise CommandError(str(exc)) from exc
        except DigitalOceanError as exc:
            raise CommandError(f"daily cost ingest failed, previous rows kept: {exc}") from exc
        self.stdout.write(result.summary())
