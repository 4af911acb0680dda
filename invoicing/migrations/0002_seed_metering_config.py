"""Seed one metering_config row per billing kind: daily rows, kept 400 days.

Kinds added to the registry later are metered with the same defaults until an operator adds
their row in the admin; existing rows (an operator's choices) are never overwritten.
"""

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
    dependencies = [("invoicing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
