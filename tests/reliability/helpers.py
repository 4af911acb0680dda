"""Helpers for the reliability tests: a real Celery worker on the test database, the test
database's URL, and a way to reach the API from threads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from django.db import connection


def subprocess_database_url() -> str:
    """DATABASE_URL pointing at the database pytest-django created (`test_<name>`), so a
    subprocess sees what a `transaction=True` test committed."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")
