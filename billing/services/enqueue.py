"""Side effects of billing writes: Celery tasks, queued only once the transaction commits
(`arcadia_cloud.celery.enqueue_on_commit`, by task name: the tasks import these services)."""

from __future__ import annotations

from collections.abc import Iterable

from arcadia_cloud.celery import enqueue_on_commit

INGEST_TASK = "billing.ingest_invoice"
PUSH_TASK = "billing.push_to_finance"


def invoice_ingest_enqueue(*, invoice_uuids: Iterable[str]) -> None:
    for invoice_uuid in invoice_uuids:
        enqueue_on_commit(INGEST_TASK, invoice_uuid)


def finance_push_enqueue(*, invoice_uuids: Iterable[str], force: bool = False) -> None:
    for invoice_uuid in invoice_uuids:
        enqueue_on_commit(PUSH_TASK, invoice_uuid, force=force)
