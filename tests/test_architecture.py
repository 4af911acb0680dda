"""The house's floors hold (docs/CONVENTIONS.md): the import contracts in pyproject.toml
(`[tool.importlinter]`) are kept, and the pricing kernel runs with no framework loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.services import ROOT

DOMAIN_APPS = (
    "inventory",
    "catalog",
    "billing",
    "deployments",
    "drift",
    "invoicing",
    "analytics",
    "demo",
    "integrations",
)
FRAMEWORKS = ("django", "rest_framework", "celery", "kombu", "requests")


def test_the_import_contracts_are_kept():
    """Layers (each package imports only the floors below it, siblings not each other), a pure
    kernel, pure money and periods: import-linter reads the contracts from pyproject.toml."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def test_the_pricing_kernel_loads_no_framework_and_no_app():
    """Importing every kernel module in a fresh interpreter loads nothing but the standard
    library and the platform's pure modules — money, periods, validation (the import graph
    aside, this catches a package `__init__` that would drag Django in)."""
    modules = sorted(
        f"pricing.{path.stem}"
        for path in (ROOT / "pricing").glob("*.py")
        if path.stem != "__init__"
    )
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + probe],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert len(modules) >= 2
    assert [m for m in loaded if m.split(".")[0] in FRAMEWORKS] == []
    assert [m for m in loaded if m.split(".")[0] in DOMAIN_APPS] == []
    platform = {m for m in loaded if m.split(".")[0] == "arcadia_cloud"}
    pure = {
        "arcadia_cloud",
        "arcadia_cloud.money",
        "arcadia_cloud.periods",
        "arcadia_cloud.validation",
    }
    assert platform <= pure, platform


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), i.e. the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle_anywhere_in_the_product():
    """Not between floors (the layers contract), and not inside an app either (services and
    the tasks that call them, models and their validation): every import, also those made at
    call time, goes one way."""
    import grimp

    graph = grimp.build_graph(
        *(
            path.parent.name
            for path in ROOT.glob("*/__init__.py")
            if path.parent.name not in {"tests", "bench"}
        )
    )
    assert _cycles(graph) == []
