"""Locks are taken in one place per app (docs/CONVENTIONS.md, "Lock order"): every row lock
(`select_for_update`) and advisory lock in the product's code is in a `locks.py`, where the
lock-order table can be checked against it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.services import ROOT

PACKAGES = (
    "arcadia_cloud",
    "pricing",
    "integrations",
    "inventory",
    "catalog",
    "billing",
    "deployments",
    "drift",
    "invoicing",
    "analytics",
    "demo",
)
LOCK_CALLS = {"select_for_update", "advisory_xact_lock", "try_advisory_lock"}
LOCK_SQL = re.compile(
    r"\bselect\b.*\bfor\s+(no\s+key\s+)?(update|share)\b|\bpg_(try_)?advisory|\block\s+table\b",
    re.IGNORECASE | re.DOTALL,
)


def docstrings(tree: ast.Module) -> set[int]:
    nodes = (tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)))
    return {
        id(node.body[0].value)
        for node in nodes
        if node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def lock_sites(path: Path) -> list[str]:
    """`file:line what` for every lock call or locking SQL text (not prose: docstrings are
    skipped) in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = docstrings(tree)
    sites = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            name = name if name in LOCK_CALLS else None
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
        ):
            found = LOCK_SQL.search(node.value)
            name = found.group(0).split()[0] if found else None
        if name is not None:
            sites.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return sites


def product_modules() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_every_lock_is_taken_in_a_locks_module():
    outside = [
        site for path in product_modules() if path.name != "locks.py" for site in lock_sites(path)
    ]
    assert outside == []


def test_the_scan_finds_the_locks_it_looks_for():
    """The scan is not blind: it sees the locks the apps' lock modules take."""
    found = [
        site for path in product_modules() if path.name == "locks.py" for site in lock_sites(path)
    ]
    for module in (
        "inventory/locks.py",
        "deployments/locks.py",
        "catalog/locks.py",
        "billing/locks.py",
        "drift/locks.py",
        "invoicing/invoices/locks.py",
        "arcadia_cloud/locks.py",
    ):
        assert any(site.startswith(f"{module}:") for site in found), module
