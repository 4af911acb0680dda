"""LLM usage ingest through the real API (DRF view, serializer, service), batches of 1,000
events, 100,000 events in all. Target ≥ 5,000 events/s."""

from __future__ import annotations

import json
import statistics
import time

from _common import counting_queries, fresh_schema, report
from django.conf import settings
from rest_framework.test import APIClient

from arcadia_cloud.auth import mint_token
from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import previous_month
from deployments.models import Deployment
from invoicing.models import LLMUsageEvent

BATCHES = 100
# Events of last month: older ones are refused (LATE_USAGE_HORIZON_DAYS), so the dates follow
# the clock.
EVENT_MONTH = previous_month(utc_today())
BATCH = 1000


def body(deployments: list[Deployment], batch: int) -> str:
    events = []
    for n in range(BATCH):
        deployment = deployments[n % len(deployments)]
        events.append(
            {
                "gateway_request_id": f"b{batch}-e{n}",
                "deployment_id": deployment.pk,
                "tenant_id": deployment.tenant_id,
                "model": "gpt-x",
                "input_tokens": 100 + n,
                "output_tokens": 7,
                "charge": f"0.{n:08d}",
                "currency": "AUD",
                "occurred_at": f"{EVENT_MONTH:%Y-%m}-{n % 28 + 1:02d}T10:00:00Z",
            }
        )
    return json.dumps({"events": events})


def main() -> None:
    fresh_schema()
    settings.ALLOWED_HOSTS = ["*"]
    deployments = Deployment.objects.bulk_create(
        Deployment(
            tenant_id=f"t{i % 50}",
            slug=f"d{i}",
            display_name="d",
            llm_mode="plan" if i % 2 else "passthrough",
        )
        for i in range(200)
    )
    client = APIClient()
    token = mint_token(tenant_id="platform-admin", roles=["llm_gateway"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    bodies = [body(deployments, b) for b in range(BATCHES)]
    times = []
    total_started = time.perf_counter()
    for payload in bodies:
        with counting_queries() as counter:
            began = time.perf_counter()
            response = client.post(
                "/api/v1/integrations/llm-usage", data=payload, content_type="application/json"
            )
            times.append(time.perf_counter() - began)
        assert response.status_code == 201, response.content[:300]
    total = time.perf_counter() - total_started
    assert LLMUsageEvent.objects.count() == BATCHES * BATCH
    rate = BATCHES * BATCH / total
    report(
        "LLM usage ingest through the API, batches of 1,000 (100,000 events)",
        result=f"{rate:,.0f} events/s (median batch {statistics.median(times) * 1000:.0f} ms)",
        target="≥ 5,000 events/s",
        met=rate >= 5000,
        queries_per_batch=counter.count,
    )


if __name__ == "__main__":
    main()
