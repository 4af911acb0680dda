from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.clock import utc_today
from catalog.provider_prices import read_price_list
from catalog.services import provider_prices_sync
from integrations.digitalocean import DigitalOceanError, client_for


class Command(BaseCommand):
    help = "Sync DigitalOcean's price list into provider_prices now (issue 18)."

    def handle(self, *args, **options):
        client = client_for("sync")
        if client is None:
            self.stdout.write(
                "No DigitalOcean token configured (DO_TOKEN_SYNC or DO_API_TOKEN): nothing to do."
            )
            return
        try:
            read = read_price_list(client)
        except DigitalOceanError as exc:
            raise CommandError(f"price list: FAILED, nothing written: {exc}") from exc
        result = provider_prices_sync(listed=read.prices, today=utc_today(), skipped=read.skipped)
        self.stdout.write(result.summary())
