"""Freeze issued invoices in the database itself (PostgreSQL).

The services never rewrite an invoice once it leaves `draft`; these triggers make that a fact
for every writer (a shell, a future bug, the admin), not a convention:

- `tenant_invoice_lines`: no insert, update or delete of a line whose invoice is not a draft.
  The parent row is read FOR SHARE, so a line write racing an issue waits for it and then sees
  the new status.
- `tenant_invoices`: once issued, the tenant, period, currency, amounts and generation time
  never change, a number once given is never changed or taken back, and only drafts can be
  deleted.

Violations raise SQLSTATE 23514 (check_violation), which Django reports as IntegrityError.
SQLite (the single-user quick start) has no such triggers; the services are its guard.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION tenant_invoice_lines_frozen() RETURNS trigger AS $$
DECLARE
    invoice_ids bigint[];
    parent record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        invoice_ids := ARRAY[NEW.invoice_id];
    ELSIF TG_OP = 'DELETE' THEN
        invoice_ids := ARRAY[OLD.invoice_id];
    ELSE
        invoice_ids := ARRAY[OLD.invoice_id, NEW.invoice_id];
    END IF;
    FOR parent IN
        SELECT id, status FROM tenant_invoices WHERE id = ANY(invoice_ids) ORDER BY id FOR SHARE
    LOOP
        IF parent.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is %: its lines are frozen', parent.id, parent.status
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenant_invoice_lines_frozen
BEFORE INSERT OR UPDATE OR DELETE ON tenant_invoice_lines
FOR EACH ROW EXECUTE FUNCTION tenant_invoice_lines_frozen();

CREATE FUNCTION tenant_invoices_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is %: only drafts can be deleted', OLD.id, OLD.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.tenant_id, NEW.period_start, NEW.period_end, NEW.currency, NEW.subtotal_cents,
        NEW.tax_cents, NEW.total_cents, NEW.generated_at
    ) IS DISTINCT FROM (
        OLD.tenant_id, OLD.period_start, OLD.period_end, OLD.currency, OLD.subtotal_cents,
        OLD.tax_cents, OLD.total_cents, OLD.generated_at
    ) THEN
        RAISE EXCEPTION 'invoice % is %: its content is frozen', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.number IS NOT NULL AND NEW.number IS DISTINCT FROM OLD.number THEN
        RAISE EXCEPTION 'invoice % keeps its number %', OLD.id, OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenant_invoices_frozen
BEFORE UPDATE OR DELETE ON tenant_invoices
FOR EACH ROW EXECUTE FUNCTION tenant_invoices_frozen();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS tenant_invoices_frozen ON tenant_invoices;
DROP FUNCTION IF EXISTS tenant_invoices_frozen();
DROP TRIGGER IF EXISTS tenant_invoice_lines_frozen ON tenant_invoice_lines;
DROP FUNCTION IF EXISTS tenant_invoice_lines_frozen();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no params: "%" in RAISE is literal

    return run


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0003_tenant_invoices")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
