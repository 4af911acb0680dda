from django.db import migrations

DEFAULT = {
    "name": "default",
    "is_default": True,
    "reminder_offsets": [-3, 1, 7],
    "past_due_after_days": 3,
    "suspend_after_days": 14,
    "power_off_on_suspend": False,
}


def create_default(apps, schema_editor):
    Policy = apps.get_model("dunning", "DunningPolicy")
    if not Policy.objects.filter(is_default=True).exists():
        Policy.objects.get_or_create(name=DEFAULT["name"], defaults=DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("dunning", "0001_initial")]
    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
