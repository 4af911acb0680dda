"""Fault injection for the DigitalOcean emulator.

A fault rule picks requests (by path prefix, page and position) and makes them fail the way
the real API does on a bad day: 429 with Retry-After, 5xx, a slow answer, a garbage body.
Rules are evaluated in the order they were added; the first rule that fires wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """One rule. See `FaultPlan.add` for the meaning of each field."""

    path_prefix: str | None = None
    page: int | None = None
    nth: int | None = None
    every: bool = False
    status: int | None = None
    retry_after: float | None = None
    delay: float | None = None
    body: str | None = None
    times: int = 1
    matched: int = 0
    fired: int = 0

    def matches(self, path: str, page: int) -> bool:
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        return self.page is None or self.page == page

    def should_fire(self) -> bool:
        """Count one matching request and tell whether this one is hit."""
        self.matched += 1
        if self.every:
            return self.nth is None or self.matched % self.nth == 0
        return self.matched >= (self.nth or 1) and self.fired < self.times

    @property
    def exhausted(self) -> bool:
        return not self.every and self.fired >= self.times


_RULE_FIELDS = (
    "path_prefix",
    "page",
    "nth",
    "every",
    "status",
    "retry_after",
    "delay",
    "body",
    "times",
)


class FaultPlan:
    """The emulator's list of fault rules; safe to change while requests are served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(
        self,
        path_prefix: str | None = None,
        nth: int | None = None,
        every: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        body: str | None = None,
        times: int = 1,
        page: int | None = None,
    ) -> Fault:
        """Add a rule.

        - `path_prefix`: only requests whose path starts with it (None: every path);
          `page`: only that `?page=` (page 1 when the query has none).
        - Which matching requests are hit: by default the next `times` ones; with `nth`, the
          nth matching request counted from now and the `times - 1` after it; with
          `every=True`, all of them forever (or every nth one when `nth` is set).
        - What happens: wait `delay` seconds first; then answer `status` (with DO's JSON error
          body, or `body` verbatim) plus `Retry-After: retry_after` when given; a rule with
          only `body` answers 200 with that body; a rule with only `delay` then serves the
          real answer (a slow page).
        """
        fault = Fault(
            path_prefix=path_prefix,
            page=page,
            nth=nth,
            every=every,
            status=status,
            retry_after=retry_after,
            delay=delay,
            body=body,
            times=times,
        )
        _validate(fault)
        with self._lock:
            self._rules.append(fault)
        return fault

    def load(self, rules: Iterable[Mapping[str, Any]]) -> list[Fault]:
        """Add rules from JSON objects (the `faults` list of a fixture or a CLI faults file)."""
        added = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, Mapping):
                raise ValueError(f"faults[{index}] must be an object")
            unknown = set(rule) - set(_RULE_FIELDS)
            if unknown:
                raise ValueError(
                    f"faults[{index}] has unknown keys {sorted(unknown)}; "
                    f"allowed: {', '.join(_RULE_FIELDS)}"
                )
            try:
                added.append(self.add(**rule))
            except ValueError as exc:
                raise ValueError(f"faults[{index}]: {exc}") from exc
        return added

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> list[Fault]:
        """Rules that can still fire."""
        with self._lock:
            return list(self._rules)

    def pick(self, path: str, page: int) -> Fault | None:
        """The rule hitting this request, if any; every matching rule counts the request."""
        with self._lock:
            hit = None
            for fault in self._rules:
                if fault.matches(path, page) and fault.should_fire() and hit is None:
                    fault.fired += 1
                    hit = fault
            self._rules = [fault for fault in self._rules if not fault.exhausted]
            return hit


def _validate(fault: Fault) -> None:
    if fault.status is None and fault.delay is None and fault.body is None:
        raise ValueError("a fault needs at least one of status, delay or body")
    if fault.status is not None and not 100 <= fault.status <= 599:
        raise ValueError(f"status {fault.status!r} is not an HTTP status")
    for name in ("nth", "times", "page"):
        value = getattr(fault, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    for name in ("retry_after", "delay"):
        value = getattr(fault, name)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")
