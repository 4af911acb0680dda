"""revenue_kind_totals and revenue_deployment_totals (issue 22: by_kind and margin_summary read
a few rows per kind / per deployment), and the backfill of every revenue summary from the lines
already there (moved here from 0012: the rebuild writes all three tables)."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from invoicing.summaries import revenue_summary_rebuild

    revenue_summary_rebuild()


class Migration(migrations.Migration):

    dependencies = [
        ('deployments', '0004_trial_ending_event'),
        ('invoicing', '0014_usage_month_totals'),
    ]

    operations = [
        migrations.CreateModel(
            name='RevenueKindTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.DateField(help_text='The month (its first day).')),
                ('currency', models.CharField(max_length=3)),
                ('kind', models.CharField(max_length=32)),
                ('shard', models.PositiveSmallIntegerField()),
                ('invoiced_cents', models.BigIntegerField(default=0)),
                ('invoiced_lines', models.BigIntegerField(default=0)),
                ('credited_cents', models.BigIntegerField(default=0)),
                ('credited_lines', models.BigIntegerField(default=0)),
            ],
            options={
                'db_table': 'revenue_kind_totals',
                'default_permissions': ('view',),
                'constraints': [models.UniqueConstraint(fields=('period', 'currency', 'kind', 'shard'), name='revenue_kind_total_key')],
            },
        ),
        migrations.CreateModel(
            name='RevenueDeploymentTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.DateField(help_text='The month (its first day).')),
                ('tenant_id', models.CharField(max_length=200)),
                ('currency', models.CharField(max_length=3)),
                ('invoiced_cents', models.BigIntegerField(default=0)),
                ('credited_cents', models.BigIntegerField(default=0)),
                ('deployment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='deployments.deployment')),
            ],
            options={
                'db_table': 'revenue_deployment_totals',
                'default_permissions': ('view',),
                'indexes': [models.Index(fields=['period', 'tenant_id'], name='revenue_deployment_total_key')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
