from django.core.management.base import BaseCommand

from drift.services import drift_detect_all


class Command(BaseCommand):
    help = "Sweep every provisioned resource for drift now and print what changed."

    def handle(self, *args, **options):
        summary = drift_detect_all()
        self.stdout.write(
            self.style.SUCCESS(
                f"drift: {summary.resources} provisioned resources swept; "
                f"{summary.opened} opened, {summary.refreshed} refreshed, "
                f"{summary.unchanged} unchanged, {summary.closed_stale} closed stale"
            )
        )
