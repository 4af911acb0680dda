"""The month-end demo: the whole product run against the bundled DigitalOcean emulator.

It replays one month the way production lives it — inventory synced day by day as resources
come and go, then metering, the provider invoice, the rollup, margin and drift — calling the
same services the Celery tasks call. Every step is idempotent: a re-run reuses what is there and
says so.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command

from arcadia_cloud.periods import iter_days, month_end, next_month
from arcadia_cloud.sandbox import DigitalOceanEmulator, run_emulator
from inventory.digitalocean import DigitalOceanClient
from inventory.models import CloudProject, CloudResource
from inventory.services import project_classify
from inventory.sync import sync_all

# Which tenant each sandbox project belongs to (operators do this in the admin).
TENANT_PROJECTS = {"Acme Corp": "acme", "Globex": "globex", "Initech": "initech"}
STATE_FILE = "demo_state.json"


def _at(day: dt.date, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, minute), tzinfo=dt.UTC)


@dataclass
class DemoState:
    """What earlier runs completed, so a re-run reuses instead of redoing."""

    period: str
    done: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, period: dt.date) -> DemoState:
        path = settings.VAR_DIR / STATE_FILE
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("period") != period.isoformat():
                raise DemoPeriodMismatch(
                    f"this database already holds the demo for {data.get('period')}; run that "
                    f"period again, or delete {settings.VAR_DIR} to start over with {period:%Y-%m}"
                )
            return cls(period=data["period"], done=data.get("done", {}))
        return cls(period=period.isoformat())

    def save(self) -> None:
        path = settings.VAR_DIR / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"period": self.period, "done": self.done}, indent=2))


class DemoPeriodMismatch(Exception):
    pass


class MonthDemo:
    def __init__(self, period: dt.date, stdout) -> None:
        self.period = period
        self.last_day = month_end(period)
        self.stdout = stdout
        self.state = DemoState.load(period)

    def write(self, text: str) -> None:
        self.stdout.write(text)

    def progress(self, text: str) -> None:
        """A line that the next one overwrites (long steps show they are moving)."""
        self.stdout.write(f"{text}\r", ending="")
        self.stdout.flush()

    def step(self, key: str, title: str, action: Callable[[], str]) -> None:
        if key in self.state.done:
            self.write(f"• {title}: reused ({self.state.done[key]})")
            return
        self.write(f"• {title} …")
        summary = action()
        self.state.done[key] = summary
        self.state.save()
        self.write(f"  {summary}")

    def run(self) -> None:
        self.write("• migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("setup_schedules", verbosity=0, stdout=_Null())
        emulator = DigitalOceanEmulator(period=self.period, clock=_at(self.period))
        with run_emulator(emulator) as running:
            client = DigitalOceanClient(running.base_url, running.token)
            self.step(
                "inventory",
                f"replaying {self.period:%B} inventory syncs day by day",
                lambda: self.replay_inventory(running, client),
            )

    def replay_inventory(self, emulator: DigitalOceanEmulator, client: DigitalOceanClient) -> str:
        """Sync at 00:00 each day; where something went missing, two more syncs 15 minutes apart
        finish its three strikes (as the 15-minute schedule would)."""
        days = [*iter_days(self.period, self.last_day), next_month(self.period)]
        for index, day in enumerate(days, start=1):
            for minute in (0, 15, 30):
                moment = _at(day, minute)
                emulator.set_clock(moment)
                results = sync_all(client=client, now=moment)
                if index == 1 and minute == 0:
                    self.classify_projects()
                    results = sync_all(client=client, now=moment)
                if not any(r.stale.struck for r in results):
                    break
            self.progress(f"  day {index:>2}/{len(days)} synced")
        live = CloudResource.objects.filter(deleted_at__isnull=True).count()
        gone = CloudResource.objects.filter(deleted_at__isnull=False).count()
        return f"{live} live resources, {gone} destroyed during the month"

    @staticmethod
    def classify_projects() -> None:
        for project in CloudProject.objects.filter(name__in=TENANT_PROJECTS):
            project_classify(
                project=project,
                tenant_id=TENANT_PROJECTS[project.name],
                purpose="tenant",
                actor="demo",
            )


class _Null:
    def write(self, *_args, **_kwargs) -> None:
        pass

    def flush(self) -> None:
        pass
