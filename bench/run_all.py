"""Run every bench/bench_*.py (each on a clean schema of the PostgreSQL that bench/run_all
started) and rewrite the results in docs/performance.md: the table, how the cost grows with
the data (every figure named `growth_*`), and every figure of the run."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DOC = BENCH.parent / "docs" / "performance.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
# Figures shown in the table itself (or not worth repeating below it).
SHOWN = {"workload", "result", "target", "met", "seconds", "vs_ceiling"}
# The order of the table (issue 10's); scripts not named here follow, by name.
ORDER = (
    "inventory_sync",
    "do_rate_budget",
    "invoice_ingest",
    "metering",
    "llm_ingest",
    "rollup",
    "margin",
    "api",
)
PROBE_LOOPS = 6_000_000


def postgres_version() -> str:
    try:
        out = subprocess.run(
            [os.path.join(os.environ.get("PG_BIN", ""), "postgres"), "--version"],
            capture_output=True,
            text=True,
        ).stdout
    except OSError:
        return "PostgreSQL"
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    words = out.split()
    return f"PostgreSQL {words[2]}" if len(words) > 2 else "PostgreSQL"


def machine() -> str:
    cpus = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return (
        f"{platform.machine()}, {cpus} cores, {mem_gib:.0f} GiB, Python {python}, "
        f"{postgres_version()} on the same machine"
    )


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def cpu_probe() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this (shared, virtual) machine runs
    right now. The same code's figures move with it from one run to the next."""
    began = time.process_time()
    total = 0
    for n in range(PROBE_LOOPS):
        total += n % 7
    return round(time.process_time() - began, 3)


def run(script: Path) -> list[dict]:
    probe = cpu_probe()
    print(f"== {script.name} (load average {load_average()}, CPU probe {probe} s)", flush=True)
    began = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=BENCH)
    seconds = time.monotonic() - began
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
        line["cpu_probe_s"] = probe
        print(
            f"   {line['result']}  (target {line['target']}; {'met' if line['met'] else 'NOT met'};"
            f" {seconds:.0f} s with setup)",
            flush=True,
        )
        for c in ceilings(line):
            print(f"   ratio {c['ratio']:.2f} {c['means']}: {c['figure']} vs {c['ceiling']}")
    return lines


def probes(rows: list[dict]) -> str:
    values = [r["cpu_probe_s"] for r in rows if "cpu_probe_s" in r]
    return f"{min(values)} to {max(values)} s" if values else "not run"


def ceilings(row: dict) -> list[dict]:
    """The row's figures beside their ceilings measured in the same run (`_common.vs_ceiling`)."""
    value = row.get("vs_ceiling")
    if isinstance(value, dict):
        return [value]
    return [c for c in value or [] if isinstance(c, dict)]


def ceiling_cells(row: dict) -> tuple[str, str]:
    """(ceiling, ratio) cells of the table: every ratio of the row, or why there is none."""
    found = ceilings(row)
    if not found:
        return "not measured in this run", "—"
    return (
        "; ".join(f"{c['ceiling']}" for c in found),
        "; ".join(f"**{c['ratio']:.2f}** {c['means']} ({c['figure']})" for c in found),
    )


def table(rows: list[dict], *, started: str, seconds: float, loads: tuple[str, str]) -> str:
    out = [
        f"Run {started} UTC on {machine()}; all workloads with their setup took "
        f"{seconds / 60:.1f} min. Load average (1 / 5 / 15 min) before the run {loads[0]}, "
        f"after it {loads[1]}. CPU probe (a fixed pure-Python loop, run before each benchmark):"
        f" {probes(rows)}.",
        "",
        "| workload | result | ceiling (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ceiling, ratio = ceiling_cells(r)
        out.append(
            f"| {r['workload']} | {r['result']} | {ceiling} | {ratio} | {r['target']} | "
            f"{'yes' if r['met'] else '**no**'} |"
        )
    growth = [
        (r["workload"], key, value)
        for r in rows
        for key, value in r.items()
        if key.startswith("growth") and isinstance(value, dict)
    ]
    if growth:
        out += ["", "How the cost grows (1x / 3x / 10x data, same run):", ""]
        for workload, key, value in growth:
            unit = key.removeprefix("growth_").replace("_", " ")
            steps = "; ".join(f"{size}: {figure}" for size, figure in value.items())
            out.append(f"- {workload} ({unit}): {steps}")
    out += ["", "<details><summary>Every figure of this run</summary>", ""]
    for r in rows:
        figures = {key: value for key, value in r.items() if key not in SHOWN}
        out.append(f"- **{r['workload']}**: `{json.dumps(figures, ensure_ascii=False)}`")
    out += ["", "</details>"]
    return "\n".join(out)


def order(script: Path) -> tuple[int, str]:
    ranks = [n for n, name in enumerate(ORDER) if name in script.stem]
    return (ranks[0] if ranks else len(ORDER), script.name)


def main() -> None:
    only = sys.argv[1:]
    scripts = sorted(
        (p for p in BENCH.glob("bench_*.py") if not only or any(o in p.name for o in only)),
        key=order,
    )
    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
    load_before = load_average()
    began = time.monotonic()
    rows = [row for script in scripts for row in run(script)]
    text = table(
        rows,
        started=started,
        seconds=time.monotonic() - began,
        loads=(load_before, load_average()),
    )
    doc = DOC.read_text()
    if START in doc and END in doc and not only:
        head, rest = doc.split(START, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}")
        print(f"wrote {DOC}")
    else:
        print(text)
    sys.exit(0 if all(r["met"] for r in rows) else 1)


if __name__ == "__main__":
    main()
