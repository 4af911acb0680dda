"""Account fixtures of the DigitalOcean emulator: loading, validation and resource lifetimes.

A fixture is plain JSON (format in docs/sandbox.md). Dates inside the billing period are
written as day numbers, so one fixture replays any month. Keys starting with `_` are emulator
metadata and never reach the wire.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcadia_cloud.periods import days_in_month

DEFAULT_FIXTURE_PATH = Path(__file__).with_name("fixtures") / "default_account.json"

# The emulator's own vocabulary: each collection of DigitalOcean's API a fixture lists (its key,
# plural as in the API's URLs) -> the field that identifies one object of it (and ends its URL /
# URN). Not our resource kinds (those are `pricing.kinds.RESOURCE_KINDS`): inventory maps these
# to its kinds when it syncs, as it does for the real API.
COLLECTIONS: dict[str, str] = {
    "projects": "id",
    "project_resources": "urn",
    "droplets": "id",
    "domains": "name",
    "volumes": "id",
    "snapshots": "id",
    "reserved_ips": "ip",
    "firewalls": "id",
    "load_balancers": "id",
    "databases": "id",
    "kubernetes_clusters": "id",
    "apps": "id",
    "reserved_ipv6s": "ip",
    "images": "id",  # custom images (backups and snapshots are derived)
}
# `spaces_buckets` (name, region, object_sizes in bytes) is not served by this API: the demo
# fills a real S3 server with it (Spaces speak S3, not the DigitalOcean API).
ACCOUNT_KEYS = frozenset(
    {"account", "balance", "billing_history", "invoice", "faults", "registry", "spaces_buckets"}
)


class FixtureError(ValueError):
    """The fixture cannot describe an account; the message names the offending entry."""


def load_fixture(path: str | Path | None = None) -> dict[str, Any]:
    """A fresh copy of a fixture file (the default account when `path` is None)."""
    source = Path(path) if path is not None else DEFAULT_FIXTURE_PATH
    try:
        fixture = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"cannot read fixture {source}: {exc}") from exc
    if not isinstance(fixture, dict):
        raise FixtureError(f"fixture {source} must be a JSON object, not {type(fixture).__name__}")
    return fixture


def iso(moment: dt.datetime) -> str:
    """DO's timestamp format: `2026-10-01T00:00:00Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a billing month as aware UTC datetimes."""
    start = dt.datetime.combine(period, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=days_in_month(period))


def day_instant(period: dt.date, day: Any, where: str) -> dt.datetime:
    """00:00 UTC at the start of day `day` of the period (1-based)."""
    last = days_in_month(period)
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= last:
        raise FixtureError(
            f"{where}: day {day!r} is not a day of {period:%B %Y} (use an integer 1..{last})"
        )
    return period_bounds(period)[0] + dt.timedelta(days=day - 1)


@dataclass(frozen=True)
class Lifetime:
    """When a fixture object exists: from `created_at` (None: before the period) up to, not
    including, `destroyed_at` (None: still alive)."""

    created_at: dt.datetime | None = None
    destroyed_at: dt.datetime | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any], period: dt.date, where: str) -> Lifetime:
        spec = obj.get("_lifetime")
        if spec is None:
            return cls()
        if not isinstance(spec, dict) or set(spec) - {"created_day", "destroyed_day"}:
            raise FixtureError(
                f"{where}._lifetime must be an object with created_day and/or destroyed_day"
            )
        created = spec.get("created_day")
        destroyed = spec.get("destroyed_day")
        lifetime = cls(
            created_at=None if created is None else day_instant(period, created, where),
            destroyed_at=None if destroyed is None else day_instant(period, destroyed, where),
        )
        if (
            lifetime.created_at
            and lifetime.destroyed_at
            and lifetime.destroyed_at <= lifetime.created_at
        ):
            raise FixtureError(f"{where}._lifetime: destroyed_day must come after created_day")
        return lifetime

    def alive_at(self, clock: dt.datetime) -> bool:
        if self.created_at is not None and clock < self.created_at:
            return False
        return self.destroyed_at is None or clock < self.destroyed_at

    @property
    def boundaries(self) -> tuple[dt.datetime, ...]:
        return tuple(moment for moment in (self.created_at, self.destroyed_at) if moment)


def validate_fixture(fixture: Mapping[str, Any], period: dt.date) -> None:
    """Fail early, naming the entry, instead of serving a half-broken account."""
    unknown = set(fixture) - set(COLLECTIONS) - ACCOUNT_KEYS
    if unknown:
        allowed = ", ".join(sorted({*COLLECTIONS, *ACCOUNT_KEYS}))
        raise FixtureError(f"unknown fixture keys {sorted(unknown)}; allowed: {allowed}")
    for kind, id_key in COLLECTIONS.items():
        objects = fixture.get(kind, [])
        if not isinstance(objects, list):
            raise FixtureError(f"{kind} must be a list of objects")
        seen: set[str] = set()
        for index, obj in enumerate(objects):
            where = f"{kind}[{index}]"
            check_object(obj, id_key, where, period)
            key = str(obj[id_key])
            if key in seen:
                raise FixtureError(f"{where}: duplicate {id_key} {obj[id_key]!r}")
            seen.add(key)
            for position, backup in enumerate(obj.get("_backups", [])):
                check_object(backup, "id", f"{where}._backups[{position}]", period)
    for index, entry in enumerate(fixture.get("billing_history", [])):
        check_object(entry, "type", f"billing_history[{index}]", period)


def check_object(obj: Any, id_key: str, where: str, period: dt.date) -> None:
    if not isinstance(obj, dict):
        raise FixtureError(f"{where} must be an object, not {type(obj).__name__}")
    if obj.get(id_key) in (None, ""):
        raise FixtureError(f"{where} has no {id_key!r}")
    Lifetime.of(obj, period, where)
    for change in changes_of(obj, period, where):
        if id_key in change.fields:
            raise FixtureError(f"{where}._changes: cannot change {id_key!r}")


@dataclass(frozen=True)
class Change:
    """Fields of an object that change at an instant of the period (`_changes`): a droplet
    powered off at 14:00 on the 9th is `{"day": 9, "time": "14:00", "set": {"status": "off"}}`."""

    at: dt.datetime
    fields: Mapping[str, Any]


def changes_of(obj: Mapping[str, Any], period: dt.date, where: str) -> tuple[Change, ...]:
    """An object's `_changes`, checked, in time order (none: an empty tuple)."""
    spec = obj.get("_changes")
    if spec is None:
        return ()
    if not isinstance(spec, list):
        raise FixtureError(f"{where}._changes must be a list of {{day, time, set}} objects")
    changes = []
    for index, entry in enumerate(spec):
        here = f"{where}._changes[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"day", "time", "set"}:
            raise FixtureError(f"{here} must be an object with day, time (HH:MM) and set")
        fields = entry.get("set")
        if not isinstance(fields, dict) or not fields or any(k.startswith("_") for k in fields):
            raise FixtureError(f"{here}.set must be a non-empty object of served fields")
        changes.append(
            Change(day_instant(period, entry.get("day"), here) + _time(entry, here), fields)
        )
    return tuple(sorted(changes, key=lambda change: change.at))


def _time(entry: Mapping[str, Any], where: str) -> dt.timedelta:
    text = entry.get("time", "00:00")
    try:
        moment = dt.datetime.strptime(text, "%H:%M")
    except (TypeError, ValueError):
        raise FixtureError(f"{where}.time must be HH:MM, not {text!r}") from None
    return dt.timedelta(hours=moment.hour, minutes=moment.minute)


def as_of(obj: Mapping[str, Any], period: dt.date, clock: dt.datetime) -> Mapping[str, Any]:
    """The object as it stands at `clock`: its `_changes` up to then applied (the object
    itself when it has none, so the common case copies nothing)."""
    if "_changes" not in obj:
        return obj
    current = dict(obj)
    for change in changes_of(obj, period, "object"):
        if change.at > clock:
            break
        current.update(change.fields)
    return current
