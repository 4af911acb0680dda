import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import iter_days
from arcadia_cloud.validation import FieldError
from invoicing.usage.metering import MeterResult, meter_day


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date; use YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = (
        "Meter complete UTC days from inventory into usage_records (backfill). Idempotent: days "
        "already metered are left as they are. Days within LATE_USAGE_HORIZON_DAYS only; usage "
        "of a month already invoiced is billed on the tenant's next invoice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: --from)")

    def handle(self, *args, first: str, last: str | None, **options):
        start = _day(first)
        end = _day(last) if last else start
        today = utc_today()
        if end < start:
            raise CommandError(f"--to {end} is before --from {start}")
        if end >= today:
            raise CommandError(
                f"--to {end} is not a complete UTC day yet; the last complete day is "
                f"{today - dt.timedelta(days=1)}"
            )
        total = MeterResult(start, 0, 0, 0, 0)
        days = 0
        for day in iter_days(start, end):
            try:
                result = meter_day(day)
            except FieldError as exc:  # the first day is the oldest: nothing was written
                raise CommandError(f"--from {start}: {exc.message}") from exc
            self.stdout.write(result.summary())
            total += result
            days += 1
        self.stdout.write(
            self.style.SUCCESS(
                f"Metered {days} day(s) {start} to {end}: {total.records_created} usage records "
                f"created, {total.already_metered} resource-days already metered"
                + (
                    f", {total.skipped_unknown_size} resource-days skipped (size_gb unknown)"
                    if total.skipped_unknown_size
                    else ""
                )
                + (
                    ", not metered while their sync was failing: "
                    + ", ".join(
                        f"{count} {kind} resource-days"
                        for kind, reasons in sorted(total.skipped.items())
                        for count in reasons.values()
                    )
                    + " (run the days again once the sync recovers)"
                    if total.skipped
                    else ""
                )
            )
        )
