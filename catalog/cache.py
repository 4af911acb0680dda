"""What a process computed from the catalog, kept while the catalog stays as it was.

The catalog changes seldom (an operator publishes a version, the daily price-list sync) and is
read on every quote: reading it anew costs a quote four queries and most of its CPU
(docs/performance.md, "API under load"). A `CatalogCache` keeps computed values under the
catalog's generation (`CatalogGeneration`: a number the database changes, in the writer's own
transaction, with every write to a catalog table). Each use reads the generation first — one
primary-key read — and computes afresh when it moved; so a value is never older than the
catalog the same request could read. Read first, then the catalog: a write committed in between
leaves a newer catalog stored under the older number, which the next read replaces; a number is
never handed out twice, so a rolled-back write cannot alias a later one.

Where no generation is kept (SQLite, the quick start's database) nothing is cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def catalog_generation() -> int | None:
    """The catalog's current generation as this transaction sees it; None where none is kept."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM catalog_generation WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row is not None else None


class CatalogCache:
    """Values computed from the catalog, by key, for the generation they were computed in.
    At most `max_entries` are kept (all are dropped when full, and when the generation moves)."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._entries: dict[Hashable, object] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        generation = catalog_generation()
        if generation is None:
            return compute()
        with self._lock:
            if generation == self._generation and key in self._entries:
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if generation != self._generation:
                self._generation, self._entries = generation, {}
            if len(self._entries) >= self.max_entries:
                self._entries = {}
            self._entries[key] = value
        return value
