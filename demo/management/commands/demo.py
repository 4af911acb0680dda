from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import parse_period, previous_month
from demo.admin_login import ensure_admin_login
from demo.pipeline import DemoPeriodMismatch, MonthDemo


class Command(BaseCommand):
    help = "Run Arcadia Cloud's month end on the embedded default and serve the admin and API."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="month to run, YYYY-MM (default: last month)")
        parser.add_argument("--no-serve", action="store_true", help="stop after printing")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, period, no_serve, port, **options):
        try:
            month = parse_period(period) if period else previous_month(utc_today())
        except ValueError as exc:
            raise CommandError(f"--period: {exc}") from exc

        self.stdout.write(self.style.MIGRATE_HEADING(f"Arcadia Cloud demo for {month:%B %Y}"))
        try:
            MonthDemo(month, self.stdout).run()
        except DemoPeriodMismatch as exc:
            raise CommandError(str(exc)) from exc

        login = ensure_admin_login()
        reused = "created" if login.created else "reused"
        self.stdout.write(
            self.style.SUCCESS(f"\nAdmin login ({reused}): {login.username} / {login.password}")
        )
        if no_serve:
            return
        self.stdout.write(
            f"Serving on http://127.0.0.1:{port}/admin/ and http://127.0.0.1:{port}/api/docs/ "
            "(Ctrl-C to stop)"
        )
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
