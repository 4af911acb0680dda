"""Helpers for the reliability tests: a real Celery worker on the test database, the test
database's URL, and a way to reach the API from threads."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

from tests.services import ROOT


def subprocess_database_url() -> str:
    """DATABASE_URL pointing at the database pytest-django created (`test_<name>`), so a
    subprocess sees what a `transaction=True` test committed."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


@contextlib.contextmanager
def celery_worker_process(
    broker_url: str, *, queues: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """A real `celery -A arcadia_cloud worker` (solo pool) logging to a file, so a chatty worker
    can never block on a full pipe. Terminated on exit unless the test killed it already."""
    worker_env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        **env,
    }
    with log.open("a") as output:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "arcadia_cloud",
                "worker",
                "-Q",
                queues,
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"reliability-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")
