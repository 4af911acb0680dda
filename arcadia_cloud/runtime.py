"""Process set-up shared by the served processes (gunicorn's workers, Celery's workers).

`freeze_startup_objects`: everything a process loads at start (Django, the URLconf and so every
view, serializer and selector, their module-level tables) lives as long as the process, yet the
cyclic garbage collector walks all of it on every full collection. A report that builds tens of
thousands of rows (the margin dashboard, the rollup) triggers several such collections: in the
margin benchmark about a third of `margin_summary`'s time (240 → 158 ms, docs/performance.md).
`gc.freeze()` moves the objects allocated so far into a permanent generation the collector
skips (Python's documentation recommends it for long-lived processes, before serving).
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Import what serving needs, collect once, and freeze what is left; returns how many
    objects are frozen. Call once Django is set up."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view and what it uses)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
