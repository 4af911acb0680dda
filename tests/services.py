"""Real external servers for integration tests (redis-server), started on loopback in a temp
dir and always stopped. A missing binary skips the test with a printed reason, never silently."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binary(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (
            f"SKIPPED LOUDLY: `{name}` is not installed ({why}); "
            "bin/test installs it when run as root"
        )
        print(message, file=sys.stderr)
        pytest.skip(message)
    return path


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield a redis:// URL of a fresh redis-server on loopback."""
    binary = require_binary("redis-server", "the Celery broker integration tests need it")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="arcadia-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def celery_worker(
    broker_url: str, *, queues: str = "default", env: dict | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A real `celery -A arcadia_cloud worker` (solo pool) consuming from `broker_url`.

    It logs to a file (`log`, else a temp file; `proc.log_path`), so a chatty worker can never
    block on a full pipe. Terminated on exit unless the test killed it already.
    """
    log = log or Path(tempfile.mkstemp(prefix="arcadia-worker-", suffix=".log")[1])
    worker_env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        **(env or {}),
    }
    command = [
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
        f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]
    with log.open("a") as output:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=worker_env, stdout=output, stderr=subprocess.STDOUT
        )
        proc.log_path = log
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


class GunicornServer:
    """A running `gunicorn arcadia_cloud.wsgi` (see `gunicorn_server`)."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def worker_pids(self) -> list[int]:
        """The pids of the workers the master has booted so far, oldest first."""
        marker = "Booting worker with pid: "
        return [
            int(line.split(marker, 1)[1].split()[0])
            for line in self.log_path.read_text().splitlines()
            if marker in line
        ]


@contextlib.contextmanager
def gunicorn_server(
    *, env: dict | None = None, log: Path | None = None, threads: int = 4
) -> Iterator[GunicornServer]:
    """A real gunicorn master with one threaded worker on loopback, as production runs the web
    app: a worker that dies is replaced by the master with a fresh one.

    It logs to a file (`log`, else a temp file; `server.log_path`), from which `worker_pids()`
    reads the workers. Stopped on exit.
    """
    log = log or Path(tempfile.mkstemp(prefix="arcadia-gunicorn-", suffix=".log")[1])
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "arcadia_cloud.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--graceful-timeout",
        "2",
        "--log-level",
        "info",
        "--error-logfile",
        str(log),
        "--no-control-socket",  # one per user by default: parallel runs would share it
    ]
    with log.open("a") as output:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        server = GunicornServer(proc, port, log)
        try:
            wait_for_port(port)
            yield server
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint rolled back at the end, for one hypothesis example inside a test. It is marked
    the way django.test.TestCase marks its own atomics (`_from_testcase`), so the durable entry
    points the example calls run as they do directly in a test — or in a worker."""
    from django.db import transaction

    block = transaction.atomic()
    block._from_testcase = True
    with block:
        yield
        transaction.set_rollback(True)
