"""Cross-process mutual exclusion for jobs that must not run twice at once.

On PostgreSQL a session-level advisory lock (try-lock: a second runner skips instead of
queueing behind the first and redoing its work). SQLite has one writer at a time and runs only
the single-process quick start, so there the lock is always granted.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from django.db import connection


def _key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31  # fits a signed 32-bit advisory key


@contextlib.contextmanager
def try_advisory_lock(name: str) -> Iterator[bool]:
    """Yield True when this process holds the named lock, False when someone else does."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = _key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def advisory_xact_lock(name: str) -> None:
    """Block until the named lock is held; released when the current transaction ends."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_key(name)])
