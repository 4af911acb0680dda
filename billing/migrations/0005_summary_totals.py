"""cloud_cost_kind_totals and cloud_cost_deployment_totals (issue 22: by_kind and margin_summary
read a row per kind / per deployment), and the backfill of every COGS summary from the lines
already there (moved here from 0003: the rebuild writes all three tables)."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from billing.summaries import cost_summary_rebuild

    cost_summary_rebuild()


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_daily_costs'),
    ]

    operations = [
        migrations.CreateModel(
            name='CloudCostDeploymentTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('deployment_id', models.BigIntegerField(blank=True, null=True)),
                ('tenant_id', models.CharField(blank=True, max_length=200, null=True)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=14)),
                ('lines', models.PositiveIntegerField()),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='billing.cloudinvoice')),
            ],
            options={
                'db_table': 'cloud_cost_deployment_totals',
                'default_permissions': ('view',),
                'indexes': [models.Index(fields=['invoice'], name='cost_deployment_total_invoice')],
            },
        ),
        migrations.CreateModel(
            name='CloudCostKindTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=32)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=14)),
                ('lines', models.PositiveIntegerField()),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='billing.cloudinvoice')),
            ],
            options={
                'db_table': 'cloud_cost_kind_totals',
                'default_permissions': ('view',),
                'constraints': [models.UniqueConstraint(fields=('invoice', 'kind'), name='cost_kind_total_key')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
