from django.core.management.base import BaseCommand

from arcadia_cloud.schedules import declared_schedules, install_schedules


class Command(BaseCommand):
    help = "Install every app's periodic tasks into django-celery-beat (idempotent)."

    def handle(self, *args, **options):
        counts = install_schedules()
        for spec in declared_schedules():
            cron = " ".join(
                (spec.minute, spec.hour, spec.day_of_month, spec.month_of_year, spec.day_of_week)
            )
            self.stdout.write(f"  {spec.full_name:<42} {cron:<18} {spec.task} [{spec.queue}]")
        self.stdout.write(
            self.style.SUCCESS(
                "schedules: {created} created, {updated} updated, {unchanged} unchanged, "
                "{disabled} disabled".format(**counts)
            )
        )
