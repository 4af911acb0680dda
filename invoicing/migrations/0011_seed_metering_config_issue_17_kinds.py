"""Issue 17 registered new billing kinds (every kind inventory syncs is metered): give each its
metering_config row (daily, kept 400 days) so operators can edit it in the admin. Existing rows
are never overwritten."""

from django.db import migrations

from pricing.kinds import BILLING_KINDS

DEFAULT_GRANULARITY = "daily"
DEFAULT_RETENTION_DAYS = 400


def seed(apps, schema_editor):
    MeteringConfig = apps.get_model("invoicing", "MeteringConfig")
    MeteringConfig.objects.bulk_create(
        [
            MeteringConfig(
                billing_kind=kind,
                granularity=DEFAULT_GRANULARITY,
                retention_days=DEFAULT_RETENTION_DAYS,
            )
            for kind in BILLING_KINDS
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0010_meteringconfig_billable_statuses_and_more")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
