"""Side effects of billing writes: Celery tasks, queued only once the transaction commits.

`robust=True`: in the eager quick start a failing task must not undo or break the write that
queued it (the failure is logged and recorded on the invoice).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Task
from django.db import transaction


def invoice_ingest_enqueue(*, invoice_uuids: Iterable[str]) -> None:
    from billing.tasks import ingest_invoice  # tasks import services: import at call time

    for invoice_uuid in invoice_uuids:
        _delay_on_commit(ingest_invoice, invoice_uuid)


def finance_push_enqueue(*, invoice_uuids: Iterable[str], force: bool = False) -> None:
    from billing.tasks import push_to_finance

    for invoice_uuid in invoice_uuids:
        _delay_on_commit(push_to_finance, invoice_uuid, force=force)


def _delay_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    def send() -> None:
        task.delay(*args, **kwargs)

    # Django names a failing robust callback by its __qualname__ in the log line.
    send.__qualname__ = f"{task.name}.delay{args!r}"
    transaction.on_commit(send, robust=True)
