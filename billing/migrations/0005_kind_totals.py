"""cloud_cost_kind_totals (issue 22: by_kind reads a row per kind), and the backfill of every
COGS summary from the lines already there (moved here from 0003: the rebuild writes both)."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from billing.summaries import cost_summary_rebuild

    cost_summary_rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_daily_costs"),
    ]

    operations = [
        migrations.CreateModel(
            name="CloudCostKindTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=32)),
                ("amount", models.DecimalField(decimal_places=4, max_digits=14)),
                ("lines", models.PositiveIntegerField()),
                (
                    "invoice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="billing.cloudinvoice",
                    ),
                ),
            ],
            options={
                "db_table": "cloud_cost_kind_totals",
                "default_permissions": ("view",),
                "constraints": [
                    models.UniqueConstraint(fields=("invoice", "kind"), name="cost_kind_total_key")
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
