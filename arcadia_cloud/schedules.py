"""The registry of periodic tasks. Each app declares `SCHEDULES` in its own `schedules.py`;
`manage.py setup_schedules` installs them into django-celery-beat's database, idempotently.

Only rows this registry owns (names starting with "arcadia:") are touched; schedules operators
add by hand in the admin are left alone.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction

PREFIX = "arcadia:"


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    minute: str = "0"
    hour: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"
    day_of_week: str = "*"
    queue: str = "default"
    kwargs: dict = field(default_factory=dict)
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{PREFIX}{self.name}"


SCHEDULES = [
    PeriodicTaskSpec(
        name="purge-idempotency-keys",
        task="arcadia_cloud.purge_idempotency_keys",
        minute="45",
        hour="4",
        description="Forget Idempotency-Key records older than 24 hours.",
    ),
]


def declared_schedules() -> list[PeriodicTaskSpec]:
    """Every app's SCHEDULES, in app order."""
    specs: list[PeriodicTaskSpec] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        specs.extend(getattr(module, "SCHEDULES", ()))
    return specs


@transaction.atomic(durable=True)
def install_schedules() -> dict[str, int]:
    """Create or update every declared schedule; disable registry rows no longer declared."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    counts = {"created": 0, "updated": 0, "unchanged": 0, "disabled": 0}
    declared = declared_schedules()
    for spec in declared:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=spec.minute,
            hour=spec.hour,
            day_of_month=spec.day_of_month,
            month_of_year=spec.month_of_year,
            day_of_week=spec.day_of_week,
            timezone="UTC",
        )
        wanted = {
            "task": spec.task,
            "crontab": crontab,
            "interval": None,
            "queue": spec.queue,
            "kwargs": json.dumps(spec.kwargs, sort_keys=True),
            "description": spec.description,
            "enabled": True,
        }
        task = PeriodicTask.objects.filter(name=spec.full_name).first()
        if task is None:
            PeriodicTask.objects.create(name=spec.full_name, **wanted)
            counts["created"] += 1
            continue
        changed = [name for name, value in wanted.items() if getattr(task, name) != value]
        if changed:
            for name in changed:
                setattr(task, name, wanted[name])
            task.save()
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    names = {spec.full_name for spec in declared}
    counts["disabled"] = (
        PeriodicTask.objects.filter(name__startswith=PREFIX, enabled=True)
        .exclude(name__in=names)
        .update(enabled=False)
    )
    return counts
