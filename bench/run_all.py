"""Run every bench/bench_*.py (each on a clean schema of the PostgreSQL that bench/run_all
started) and rewrite the results table in docs/performance.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DOC = BENCH.parent / "docs" / "performance.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def machine() -> str:
    cpus = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{platform.machine()}, {cpus} cores, {mem_gib:.0f} GiB, Python {python}, local PG"


def run(script: Path) -> list[dict]:
    print(f"== {script.name}", flush=True)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=BENCH)
    lines = [json.loads(line[6:]) for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return [
            {
                "workload": script.stem,
                "result": "FAILED: " + " | ".join(tail),
                "target": "",
                "met": False,
            }
        ]
    for line in lines:
        print(
            f"   {line['result']}  (target {line['target']}; {'met' if line['met'] else 'NOT met'})"
        )
    return lines


def table(rows: list[dict]) -> str:
    out = [
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
        "| workload | result | target | met |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {r['workload']} | {r['result']} | {r['target']} | {'yes' if r['met'] else '**no**'} |"
        for r in rows
    ]
    return "\n".join(out)


def main() -> None:
    only = sys.argv[1:]
    scripts = sorted(
        p for p in BENCH.glob("bench_*.py") if not only or any(o in p.name for o in only)
    )
    rows = [row for script in scripts for row in run(script)]
    text = DOC.read_text()
    if START in text and END in text and not only:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{START}\n{table(rows)}\n{END}{tail}")
        print(f"wrote {DOC}")
    else:
        print(table(rows))
    sys.exit(0 if all(r["met"] for r in rows) else 1)


if __name__ == "__main__":
    main()
