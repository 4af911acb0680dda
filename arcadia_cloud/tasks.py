"""Platform-level tasks: housekeeping that belongs to no single domain."""

from __future__ import annotations

import socket

from celery import shared_task

from arcadia_cloud import idempotency


@shared_task(name="arcadia_cloud.ping", time_limit=30, soft_time_limit=25)
def ping() -> dict[str, str]:
    """Round trip used by health checks and the broker integration test."""
    return {"pong": "ok", "worker": socket.gethostname()}


@shared_task(name="arcadia_cloud.purge_idempotency_keys", time_limit=300, soft_time_limit=270)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired_keys()
