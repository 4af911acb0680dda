"""Schema fuzzing machinery shared by the suite's bounded run and the bench's larger one.

Schemathesis 4 generates requests from the project's own OpenAPI schema (positive cases that
follow it and negative cases that break it) and sends them in-process to the project's WSGI app,
authenticated as a tenant and as platform_admin. On top, every operation meets the outside
probe's classes (`tests.reliability.probes`: hostile charsets, nesting depth, lone surrogates and
NUL, out-of-range integers, in bodies and in path and query parameters), each turning generated
cases into such requests. Every response must be a non-5xx, documented status with a body and
content type matching the schema.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from arcadia_cloud.auth import mint_token
from tests.conftest import TENANT_A
from tests.reliability.probes import Probe, probes_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
DEFAULT_EXAMPLES = 15
EXAMPLES_ENV = "ARCADIA_FUZZ_EXAMPLES"
SEED_ENV = "ARCADIA_FUZZ_SEED"


def examples_per_operation() -> int:
    """Examples per operation, caller and mode: ARCADIA_FUZZ_EXAMPLES, else the suite's budget."""
    raw = os.environ.get(EXAMPLES_ENV, "")
    return int(raw) if raw.strip() else DEFAULT_EXAMPLES


def fuzz_seed() -> int | None:
    """ARCADIA_FUZZ_SEED: unset → None (derandomized: the same examples every run, as the suite
    wants); `random` → a fresh seed (printed, so a finding can be replayed); N → seed N."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return None
    return random.randrange(2**32) if raw == "random" else int(raw)


def callers() -> dict[str, dict[str, str]]:
    return {
        "tenant": {
            "Authorization": f"Bearer {mint_token(tenant_id=TENANT_A, roles=['tenant_user'])}"
        },
        "platform_admin": {
            "Authorization": "Bearer "
            + mint_token(tenant_id="platform-admin", roles=["platform_admin"])
        },
    }


def in_process_app():
    """The project's WSGI app (`arcadia_cloud.wsgi`, as gunicorn serves it), minus the
    per-request connection recycling: requests run inside the test's transaction, on its
    connection (as Django's own test client arranges)."""
    from arcadia_cloud.wsgi import application

    def app(environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            result = application(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)

    return app


def load_schema():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return schemathesis.openapi.from_dict(json.loads(response.content))


@dataclass
class FuzzReport:
    examples: int
    seed: int | None
    requests: int = 0
    operations: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    probe_runs: int = 0

    @property
    def probe_examples(self) -> int:
        """Examples per operation, caller and probe: a fifth of the budget, at least 2."""
        return max(2, self.examples // 5)

    def summary(self) -> str:
        seed = "derandomized" if self.seed is None else f"{SEED_ENV}={self.seed}"
        return (
            f"schema fuzz: {len(self.operations)} operations x 2 callers x 2 modes, "
            f"{self.examples} examples each, plus {self.probe_runs} probe runs of "
            f"{self.probe_examples} ({seed}): {self.requests} requests in "
            f"{self.seconds:.0f}s, {len(self.failures)} failing"
        )


@contextmanager
def _timer(report: FuzzReport) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report.seconds = time.monotonic() - started


def fuzz(*, examples: int | None = None, seed: int | None = None) -> FuzzReport:
    """Fuzz every operation of the schema; failures are collected, not raised, so one run
    reports every operation that breaks."""
    report = FuzzReport(examples=examples or examples_per_operation(), seed=seed)
    schema = load_schema()
    app = in_process_app()
    with _timer(report):
        for result in schema.get_all_operations():
            operation = result.ok()
            report.operations.add(operation.label)
            for caller, headers in callers().items():
                for mode in MODES:
                    label = f"{operation.label} as {caller} ({mode.value})"
                    try:
                        _fuzz_operation(operation, mode, headers, app, report)
                    except Unsatisfiable:
                        # Nothing to break: no parameters, body or credentials to negate.
                        assert mode == GenerationMode.NEGATIVE, label
                    except (Exception, BaseExceptionGroup) as exc:  # reported with the others
                        report.failures[label] = f"{type(exc).__name__}: {exc}"[:3000]
                for kind, probe in probes_for(operation).items():
                    label = f"{operation.label} as {caller} (probe {kind})"
                    report.probe_runs += 1
                    try:
                        _probe_operation(operation, probe, headers, app, report, label)
                    except (Exception, BaseExceptionGroup) as exc:  # reported with the others
                        report.failures[label] = f"{type(exc).__name__}: {exc}"[:3000]
    return report


def _fuzz_operation(operation, mode, headers, app, report: FuzzReport) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=report.examples,
        deadline=None,
        derandomize=report.seed is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(app=app, headers=headers)
        report.requests += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    if report.seed is not None:
        run = hypothesis_seed(report.seed)(run)
    run()


def _probe_operation(operation, probe: Probe, headers, app, report: FuzzReport, label: str):
    # Seeded by the run's label when derandomized: reproducible, yet each operation draws its
    # own charsets, numbers and positions (one derandomized seed would draw the same few for all).
    @hypothesis_seed(report.seed if report.seed is not None else zlib.crc32(label.encode()))
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), data=st.data())
    @settings(
        max_examples=report.probe_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case, data):
        sent = probe(case, data)
        if sent is None:  # the probe changed the case's parameters
            response = case.call(app=app, headers=headers)
        else:
            response = case.call(
                app=app, headers={**headers, "Content-Type": sent.content_type}, data=sent.body
            )
        report.requests += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
