"""The API under load: gunicorn (4 sync workers, ARCADIA_ENV development, DEBUG off, database
connections kept between requests as production keeps them: DATABASE_CONN_MAX_AGE=60) in front
of the reseller's estate (bench/_dataset.py at full size: 100,000 resources, 10,000 invoices
with 110,000 lines, 100,000 cost lines, 10,000 deployments), driven over loopback by `wrk` with
a Lua script that mixes

- 40% GET /api/v1/inventory?page_size=20 as one of 50 tenants (their resources only),
- 10% GET /api/v1/inventory?kind=droplet&page_size=20 as platform_admin (all 30,000 droplets),
- 30% GET /api/v1/invoices?period=YYYY-MM as a tenant (its issued invoice with its lines),
- 20% POST /api/v1/quote as a tenant (studio + an add-on, projected usage),

with tokens from `manage.py mint_token`. A warm-up run (every worker opens its connection and
imports everything), then a measured run of fixed length. Without wrk (not installed and not
root), a bounded Python load generator does the same: threads with keep-alive http.client
connections, the same mix, a fixed request count and a time limit. gunicorn is always stopped.

The ceiling, measured in the same run through the same gunicorn: the same callers on a bare
authenticated endpoint, `GET /api/v1/bench/ceiling` (bench/_ceiling.py: whoami — every
middleware, the JWT check — plus one `SELECT 1`), as issue 22 defines the ceiling.

Target: the mix ≥ 50% of the ceiling's throughput, p95 ≤ 50 ms at 8 connections, zero errors;
CPU per request reported for both."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _ceiling import CEILING_PATH
from _common import (
    ROOT,
    fresh_schema,
    group_cpu_seconds,
    postgres_cpu_seconds,
    report,
    vs_ceiling,
)
from _dataset import Estate, build_estate, last_complete_month
from django.core.management import call_command

from catalog.seed import catalog_seed

TENANTS = 5_000
WORKERS = 4
CONNECTIONS = 8
WARM_UP_SECONDS = 5
MEASURED_SECONDS = 20
TOKEN_TENANTS = 50  # tenants whose tokens the mix cycles through
PYTHON_LOAD_REQUESTS = 6_000  # the fallback's bound (and MEASURED_SECONDS)
TARGET_RATIO, TARGET_P95_MS = 0.5, 50


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str
    body: str = ""


def mint(tenant: str, role: str = "tenant_user") -> str:
    out = io.StringIO()
    call_command("mint_token", tenant=tenant, role=[role], ttl=3600, stdout=out)
    return out.getvalue().strip()


def request_mix(period: str) -> list[Call]:
    """100 calls in a fixed order; the load tool cycles through them."""
    admin = mint("platform-admin", "platform_admin")
    tenants = [f"tenant-{n * (TENANTS // TOKEN_TENANTS):05d}" for n in range(TOKEN_TENANTS)]
    tokens = [mint(tenant) for tenant in tenants]
    quote = json.dumps(
        {
            "plan_code": "studio",
            "addons": ["storage_50gb"],
            "projected_usage": {
                "droplet_hours": 2000,
                "spaces_gb_month": 180,
                "llm_tokens": 1_500_000,
            },
        }
    )
    calls = []
    for n in range(100):
        token = tokens[n % TOKEN_TENANTS]
        slot = n % 10
        if slot < 4:
            calls.append(Call("GET", "/api/v1/inventory?page_size=20", token))
        elif slot == 4:
            calls.append(Call("GET", "/api/v1/inventory?kind=droplet&page_size=20", admin))
        elif slot < 8:
            calls.append(Call("GET", f"/api/v1/invoices?period={period}", token))
        else:
            calls.append(Call("POST", "/api/v1/quote", token, quote))
    return calls


def cpu_snapshot(gunicorn_pid: int) -> dict[str, float]:
    """CPU seconds so far of the gunicorn workers, the PostgreSQL server and the load tool."""
    return {
        "gunicorn_cpu": group_cpu_seconds(gunicorn_pid),
        "postgres_cpu": postgres_cpu_seconds() or 0.0,
        # wrk is a child of this process; the Python fallback runs in it.
        "load_tool_cpu": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        + sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(port: int) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "ARCADIA_ENV": "development",
        "DEBUG": "false",
        "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "60"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "arcadia_cloud.settings",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        # The product's WSGI application with the ceiling's one extra route (bench/_ceiling.py).
        "--pythonpath",
        str(ROOT / "bench"),
        "_ceiling:application",
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_until_healthy(port, server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_until_healthy(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/health")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /api/health within 60 s")


# -- wrk -------------------------------------------------------------------------------------

LUA = """
local calls = %(calls)s
local counter = 0
local prepared = {}
for i, call in ipairs(calls) do
  local headers = {["Authorization"] = "Bearer " .. call.token}
  local body = nil
  if call.method == "POST" then
    headers["Content-Type"] = "application/json"
    body = call.body
  end
  prepared[i] = wrk.format(call.method, call.path, headers, body)
end

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 37
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  return prepared[(counter %% #prepared) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_table(calls: list[Call]) -> str:
    def quoted(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid Lua string literal here (ASCII)

    rows = [
        f"{{method={quoted(c.method)}, path={quoted(c.path)}, token={quoted(c.token)}, "
        f"body={quoted(c.body)}}}"
        for c in calls
    ]
    return "{\n" + ",\n".join(rows) + "\n}"


def run_wrk(port: int, calls: list[Call], seconds: int, script: Path) -> dict:
    script.write_text(LUA % {"calls": lua_table(calls)})
    command = [
        "wrk",
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    raw = json.loads(line[4:])
    errors = sum(raw[key] for key in ("connect", "read", "write", "status", "timeout"))
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "error_detail": {
            key: raw[key] for key in ("connect", "read", "write", "status", "timeout")
        },
    }


# -- the Python fallback -----------------------------------------------------------------------


def run_python(port: int, calls: list[Call], seconds: int, limit: int) -> dict:
    """CONNECTIONS threads, each with one keep-alive connection, until `limit` requests or
    `seconds` have passed."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    issued = [0]
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = offset
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= limit:
                    break
                issued[0] += 1
            call = calls[n % len(calls)]
            n += 1
            headers = {"Authorization": f"Bearer {call.token}"}
            if call.body:
                headers["Content-Type"] = "application/json"
            began = time.perf_counter()
            try:
                connection.request(call.method, call.path, body=call.body or None, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                with lock:
                    errors.append(type(exc).__name__)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if status is not None and status >= 400:
                    errors.append(str(status))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(37 * i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "tool": "python http.client",
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies) * 1000,
        "errors": len(errors),
        "error_detail": sorted(set(errors)),
    }


def drive(port: int, calls: list[Call], seconds: int, workdir: Path) -> dict:
    """wrk when installed (BENCH_LOAD_TOOL=python forces the fallback)."""
    if shutil.which("wrk") and os.environ.get("BENCH_LOAD_TOOL") != "python":
        return run_wrk(port, calls, seconds, workdir / "mix.lua")
    return run_python(port, calls, seconds, PYTHON_LOAD_REQUESTS)


def check_answers(port: int, calls: list[Call]) -> None:
    """Every kind of call answers 200 with a body before the load starts."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for call in calls[:10]:
        headers = {"Authorization": f"Bearer {call.token}", "Content-Type": "application/json"}
        connection.request(call.method, call.path, body=call.body or None, headers=headers)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (call.path, response.status, body[:300])
    connection.close()


def ceiling_calls(calls: list[Call]) -> list[Call]:
    """The ceiling: the same callers on the bare authenticated endpoint — the whole middleware
    stack, the JWT check and one `SELECT 1` — through the same gunicorn in the same run."""
    return [Call("GET", CEILING_PATH, call.token) for call in calls]


def measured(port: int, calls: list[Call], workdir: Path, server: subprocess.Popen) -> dict:
    drive(port, calls, WARM_UP_SECONDS, workdir)
    before = cpu_snapshot(server.pid)
    result = drive(port, calls, MEASURED_SECONDS, workdir)
    cpu = {key: value - before[key] for key, value in cpu_snapshot(server.pid).items()}
    result["cpu_per_request"] = {
        f"{key}_ms": round(value / result["requests"] * 1000, 2) for key, value in cpu.items()
    }
    result["cpu_ms_per_request"] = sum(cpu.values()) / result["requests"] * 1000
    return result


def main() -> None:
    fresh_schema()
    catalog_seed()
    estate = Estate(tenants=TENANTS, period=last_complete_month())
    rows = build_estate(estate, usage=False)
    calls = request_mix(f"{estate.period:%Y-%m}")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir, gunicorn(port) as server:
        check_answers(port, calls)
        check_answers(port, ceiling_calls(calls))
        result = measured(port, calls, Path(workdir), server)
        ceiling = measured(port, ceiling_calls(calls), Path(workdir), server)
    ratio = result["rps"] / ceiling["rps"]
    cores = os.cpu_count() or 1
    met = (
        ratio >= TARGET_RATIO
        and result["p95_ms"] <= TARGET_P95_MS
        and not result["errors"]
        and not ceiling["errors"]
    )
    report(
        "API under load (gunicorn 4 workers; inventory / invoices / quote mix, 100,000 rows)",
        result=(
            f"{result['rps']:,.0f} req/s = {ratio:.0%} of the ceiling's {ceiling['rps']:,.0f} "
            f"(JWT + SELECT 1), p50 {result['p50_ms']:.0f} ms / p95 "
            f"{result['p95_ms']:.0f} ms / p99 {result['p99_ms']:.0f} ms, "
            f"{result['errors']} errors ({result['tool']}, {CONNECTIONS} connections, "
            f"{result['requests']:,} requests), "
            f"{result['cpu_ms_per_request']:.1f} ms CPU per request "
            f"(ceiling {ceiling['cpu_ms_per_request']:.1f} ms)"
        ),
        target=(
            f"≥ {TARGET_RATIO:.0%} of the ceiling's throughput, p95 ≤ {TARGET_P95_MS} ms, "
            "zero errors"
        ),
        met=met,
        rows=rows,
        ratio_to_ceiling=round(ratio, 3),
        vs_ceiling=vs_ceiling(
            f"mix {result['rps']:,.0f} req/s",
            f"bare endpoint {ceiling['rps']:,.0f} req/s",
            ratio,
            "of the bare endpoint's throughput",
        ),
        ceiling={key: value for key, value in ceiling.items() if key not in ("tool",)},
        # What the machine could serve if nothing but this mix ran on it: its cores' time
        # divided by the CPU time one request costs (workers, PostgreSQL and the load tool).
        capacity_rps_if_idle=round(cores * 1000 / result["cpu_ms_per_request"]),
        **{key: value for key, value in result.items() if key not in ("tool",)},
    )


if __name__ == "__main__":
    sys.exit(main())
