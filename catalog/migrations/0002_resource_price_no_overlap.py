"""No two prices of one (resource_kind, currency) may overlap in time — on PostgreSQL, in the
database too.

The service already refuses overlaps under a row lock; this exclusion constraint also covers the
race it cannot lock (two first prices of a pair) and any write that bypasses the service. It is
PostgreSQL-only (GiST over a daterange, with btree_gist for the equality columns), so both
operations do nothing on SQLite, the embedded quick-start database, where writers are
serialized anyway. The constraint is not declared on the model because SQLite cannot build it.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

CONSTRAINT = "resource_price_no_overlap"

ADD_SQL = f"""
ALTER TABLE resource_prices ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist (
    resource_kind WITH =,
    currency WITH =,
    daterange(effective_from, effective_to, '[)') WITH &&
)
"""
DROP_SQL = f"ALTER TABLE resource_prices DROP CONSTRAINT IF EXISTS {CONSTRAINT}"


def _on_postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def add_constraint(apps, schema_editor):
    if _on_postgres(schema_editor):
        schema_editor.execute(ADD_SQL)


def drop_constraint(apps, schema_editor):
    if _on_postgres(schema_editor):
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        BtreeGistExtension(),  # a no-op on every database but PostgreSQL
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
