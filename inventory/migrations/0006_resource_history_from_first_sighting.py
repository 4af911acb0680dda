"""Existing resources get a history: one interval from their first sighting with their current
billed state, closed at their tombstone (their last sighting) if they are deleted. What they were
before this migration was never recorded, so nothing earlier is invented."""

from django.db import migrations

from pricing.kinds import billed_as, billed_size

CHUNK = 2000


def seed_history(apps, schema_editor):
    CloudResource = apps.get_model("inventory", "CloudResource")
    History = apps.get_model("inventory", "CloudResourceHistory")
    rows = CloudResource.objects.order_by("pk").values_list(
        "pk", "kind", "status", "attrs", "deployment_id", "tenant_id", "first_seen_at", "deleted_at"
    )
    batch = []
    for pk, kind, status, attrs, deployment_id, tenant_id, first_seen, deleted in rows.iterator(
        chunk_size=CHUNK
    ):
        attrs = attrs if isinstance(attrs, dict) else {}
        billed = billed_as(kind, attrs)
        start = first_seen.replace(microsecond=0)
        end = None if deleted is None else max(deleted.replace(microsecond=0), start)
        batch.append(
            History(
                resource_id=pk,
                kind=billed,
                valid_from=start,
                valid_to=end,
                status=status,
                size=billed_size(billed, attrs),
                deployment_id=deployment_id,
                tenant_id=tenant_id,
            )
        )
        if len(batch) >= CHUNK:
            History.objects.bulk_create(batch)
            batch = []
    History.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0005_resource_history")]

    operations = [migrations.RunPython(seed_history, migrations.RunPython.noop)]
