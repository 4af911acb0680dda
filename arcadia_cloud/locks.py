"""The platform's locks: named advisory locks the apps' `locks.py` build on, and the row lock of
an idempotency key.

Advisory locks: on PostgreSQL a session-level try-lock (a second runner skips instead of
queueing behind the first and redoing its work) or a transaction-level lock (a second writer
waits). SQLite has one writer at a time and runs only the single-process quick start, so there
the lock is always granted. The order of every lock across apps: docs/CONVENTIONS.md.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from arcadia_cloud.models import IdempotencyKey


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


def lock_idempotency_key_if_free(key_id: int) -> IdempotencyKey | None:
    """The key's row, locked for this transaction; None when another session holds it (SKIP
    LOCKED: the caller answers "in progress" instead of waiting) or it is gone."""
    from arcadia_cloud.models import IdempotencyKey  # lazily, as the middleware calling it

    return IdempotencyKey.objects.select_for_update(skip_locked=True).filter(pk=key_id).first()
