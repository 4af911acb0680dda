"""usage_month_totals, kept by PostgreSQL itself (issue 18: the pricing advisor's month of units).

Three statement-level AFTER triggers on usage_records (INSERT, UPDATE, DELETE), each with its
transition tables, fold the statement's rows into the totals in ONE upsert: + for the new rows,
- for the old ones, grouped per key and applied in key order (two writers touching the same
keys lock them in the same order). A key whose last row went is deleted. Every writer is
covered because the database does it: the metering INSERT ... SELECT, bulk inserts, the LLM
upsert (its ON CONFLICT ... DO UPDATE fires the UPDATE trigger for the rows it adds to), the
retention DELETE, COPY, a shell. Existing rows are summed once here.

SQLite (the single-user quick start) gets the table but no triggers: the selector reads the
usage rows there.
"""

import django.db.models.deletion
from django.db import migrations, models


_MONTH = "(date_trunc('month', r.period_start AT TIME ZONE 'UTC'))::date"
_DELTA = f"""
    SELECT {_MONTH} AS month, r.deployment_id, r.resource_kind, r.size_slug,
           r.qty_denominator, {{sign}}r.qty_numerator AS qty_numerator, {{sign}}1 AS rows
    FROM {{table}} AS r
"""
_APPLY = """
        INSERT INTO usage_month_totals
            (month, deployment_id, resource_kind, size_slug, qty_denominator, qty_numerator, rows)
        SELECT month, deployment_id, resource_kind, size_slug, qty_denominator,
               SUM(qty_numerator), SUM(rows)
        FROM ({deltas}) AS delta
        GROUP BY month, deployment_id, resource_kind, size_slug, qty_denominator
        ORDER BY month, deployment_id, resource_kind, size_slug, qty_denominator
        ON CONFLICT (month, deployment_id, resource_kind, size_slug, qty_denominator) DO UPDATE
        SET qty_numerator = usage_month_totals.qty_numerator + excluded.qty_numerator,
            rows = usage_month_totals.rows + excluded.rows;
"""
_NEW = _DELTA.format(sign="", table="new_rows")
_OLD = _DELTA.format(sign="-", table="old_rows")

FORWARD = f"""
CREATE FUNCTION usage_month_totals_apply() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_APPLY.format(deltas=_NEW)}
    ELSIF TG_OP = 'DELETE' THEN
        {_APPLY.format(deltas=_OLD)}
    ELSE
        {_APPLY.format(deltas=_NEW + " UNION ALL " + _OLD)}
    END IF;
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM usage_month_totals WHERE rows = 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER usage_month_totals_insert AFTER INSERT ON usage_records
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION usage_month_totals_apply();

CREATE TRIGGER usage_month_totals_update AFTER UPDATE ON usage_records
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION usage_month_totals_apply();

CREATE TRIGGER usage_month_totals_delete AFTER DELETE ON usage_records
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION usage_month_totals_apply();

INSERT INTO usage_month_totals
    (month, deployment_id, resource_kind, size_slug, qty_denominator, qty_numerator, rows)
SELECT month, deployment_id, resource_kind, size_slug, qty_denominator,
       SUM(qty_numerator), SUM(rows)
FROM ({_DELTA.format(sign="", table="usage_records")}) AS existing
GROUP BY month, deployment_id, resource_kind, size_slug, qty_denominator;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS usage_month_totals_delete ON usage_records;
DROP TRIGGER IF EXISTS usage_month_totals_update ON usage_records;
DROP TRIGGER IF EXISTS usage_month_totals_insert ON usage_records;
DROP FUNCTION IF EXISTS usage_month_totals_apply();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0004_trial_ending_event"),
        ("invoicing", "0013_usage_record_size_slug"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageMonthTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "month",
                    models.DateField(
                        help_text="The UTC month of the rows' period_start (its first day)."
                    ),
                ),
                ("resource_kind", models.CharField(max_length=32)),
                ("size_slug", models.CharField(blank=True, default="", max_length=64)),
                ("qty_denominator", models.PositiveIntegerField()),
                ("qty_numerator", models.DecimalField(decimal_places=6, max_digits=40)),
                ("rows", models.BigIntegerField(help_text="How many usage rows the total sums.")),
                (
                    "deployment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="deployments.deployment",
                    ),
                ),
            ],
            options={
                "db_table": "usage_month_totals",
                "default_permissions": ("view",),
                "indexes": [
                    models.Index(
                        condition=models.Q(("rows", 0)),
                        fields=["rows"],
                        name="usage_month_total_empty",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "month",
                            "deployment",
                            "resource_kind",
                            "size_slug",
                            "qty_denominator",
                        ),
                        name="usage_month_total_key",
                    )
                ],
            },
        ),
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD)),
    ]
