"""The emulator's mutable account: objects per kind, keyed by their DO identifier.

Tests and the demo reshape the account between requests (a droplet is destroyed, a project
created); every change bumps `version` so the emulator knows its cached listings are stale.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .fixture import COLLECTIONS, check_object


class EmulatorState:
    """Thread-safe store of fixture objects: `add`, `remove`, `update`, `get`."""

    def __init__(self, fixture: Mapping[str, Any], period: dt.date) -> None:
        self.period = period
        self.lock = threading.RLock()
        self.version = 0
        self._objects: dict[str, dict[str, dict[str, Any]]] = {
            kind: {str(obj[id_key]): dict(obj) for obj in fixture.get(kind, [])}
            for kind, id_key in COLLECTIONS.items()
        }

    def add(self, kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Add one object (as DO would serve it, plus optional `_` metadata)."""
        id_key = _id_key(kind)
        check_object(obj, id_key, f"new {kind} object", self.period)
        key = str(obj[id_key])
        with self.lock:
            if key in self._objects[kind]:
                raise ValueError(f"{kind} already has {id_key} {obj[id_key]!r}")
            stored = copy.deepcopy(dict(obj))
            self._objects[kind][key] = stored
            self.version += 1
            return copy.deepcopy(stored)

    def remove(self, kind: str, object_id: Any) -> dict[str, Any]:
        """Delete an object outright (for a destruction at a known day, set `_lifetime`)."""
        with self.lock:
            removed = self._objects[_checked_kind(kind)].pop(str(object_id), None)
            if removed is None:
                raise KeyError(f"{kind} has no object {object_id!r}")
            self.version += 1
            return removed

    def update(self, kind: str, object_id: Any, **fields: Any) -> dict[str, Any]:
        """Replace top-level fields of one object, e.g. `update("droplets", 7, status="off")`."""
        id_key = _id_key(kind)
        if id_key in fields and str(fields[id_key]) != str(object_id):
            raise ValueError(f"cannot change the {id_key} of a {kind} object; remove and add")
        with self.lock:
            stored = self._objects[kind].get(str(object_id))
            if stored is None:
                raise KeyError(f"{kind} has no object {object_id!r}")
            updated = {**stored, **copy.deepcopy(fields)}
            check_object(updated, id_key, f"{kind} {object_id!r}", self.period)
            stored.update(updated)
            self.version += 1
            return copy.deepcopy(stored)

    def get(self, kind: str, object_id: Any) -> dict[str, Any] | None:
        with self.lock:
            stored = self._objects[_checked_kind(kind)].get(str(object_id))
            return copy.deepcopy(stored) if stored is not None else None

    def iter_raw(self, kind: str) -> Iterator[dict[str, Any]]:
        """The stored objects themselves, in insertion order. Callers hold `lock` and never
        mutate them (this avoids copying 20,000 droplets per page)."""
        return iter(self._objects[_checked_kind(kind)].values())


def _checked_kind(kind: str) -> str:
    if kind not in COLLECTIONS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(COLLECTIONS)}")
    return kind


def _id_key(kind: str) -> str:
    return COLLECTIONS[_checked_kind(kind)]
