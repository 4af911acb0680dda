from django.core.management.base import BaseCommand

from catalog.seed import SEED_ACTOR, catalog_seed


class Command(BaseCommand):
    help = (
        "Install the launch catalog (SPEC §8: plans, add-ons, resource prices in AUD). "
        "Idempotent; never edits a published plan version."
    )

    def handle(self, *args, **options):
        report = catalog_seed(actor=SEED_ACTOR)
        for line in report.lines:
            self.stdout.write(f"• {line}")
        summary = "catalog seeded" if report.changed else "catalog already seeded: nothing changed"
        self.stdout.write(self.style.SUCCESS(summary))
