from django.core.management.base import BaseCommand, CommandError

from integrations.digitalocean import DigitalOceanError, client_for
from inventory.sync import SYNC_TARGETS, sync_target


class Command(BaseCommand):
    help = "Sync inventory from DigitalOcean now (all targets, or one with --kind)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--kind", choices=[str(t) for t in SYNC_TARGETS], help="one target only"
        )

    def handle(self, *args, kind=None, **options):
        client = client_for("sync")
        if client is None:
            self.stdout.write(
                "No DigitalOcean token configured (DO_TOKEN_SYNC or DO_API_TOKEN): nothing to do."
            )
            return
        creator = client_for("provisioning")
        failed = []
        for target in [kind] if kind else SYNC_TARGETS:
            try:
                result = sync_target(target, client=client, provisioning_client=creator)
                self.stdout.write(result.summary())
            except DigitalOceanError as exc:
                failed.append(target)
                self.stderr.write(f"{target}: FAILED, nothing tombstoned: {exc}")
        if failed:
            raise CommandError(f"sync failed for {', '.join(failed)}")
