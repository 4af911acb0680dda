"""Schema fuzzing: no 5xx and schema-conformant responses for whatever a client can send.

Bounded for the suite (ARCADIA_FUZZ_EXAMPLES, default 15 examples per operation, caller and
mode, derandomized so a run is reproducible); `bench/fuzz_api.py` runs the larger, random budget.
"""

from __future__ import annotations

import pytest

from tests.reliability.fuzzing import fuzz, fuzz_seed
from tests.reliability.world import build_world


@pytest.mark.django_db
def test_every_operation_survives_fuzzing_with_documented_responses():
    build_world()
    report = fuzz(seed=fuzz_seed())
    print(report.summary())
    assert report.operations, "the schema lists no operations"
    assert not report.failures, "\n\n".join(
        f"== {label}\n{message}" for label, message in sorted(report.failures.items())
    )


# What the fuzzer found, pinned so it cannot come back unnoticed.


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "query"), [("/api/v1/invoices", {}), ("/api/v1/invoices/export", {"format": "csv"})]
)
@pytest.mark.parametrize("period", ["50%", "%s-%d", "\t", "  ", "2026-13", "٢٠٢٦-٠٤"])
def test_odd_periods_are_a_400_or_ignored_never_a_500(tenant_a_api, path, query, period):
    response = tenant_a_api.get(path, {**query, "period": period})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert "period" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_docs_pages_refuse_options_instead_of_failing(anon_api):
    for path in ("/api/docs/", "/api/redoc/"):
        assert anon_api.get(path).status_code == 200
        assert anon_api.options(path).status_code == 405


@pytest.mark.django_db
def test_the_schema_documents_every_error_the_api_answers_with(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/deployments/{id}/transition"]["post"]
    assert {"400", "401", "403", "404", "409", "413", "415"} <= set(operation["responses"])
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    public = schema["paths"]["/api/health"]["get"]
    assert "401" not in public["responses"]
    # A write without a body still has its (unwanted) body's size and charset checked.
    issue = schema["paths"]["/api/v1/invoices/{id}/issue"]["post"]
    assert "requestBody" not in issue and {"413", "415"} <= set(issue["responses"])


@pytest.mark.django_db
def test_a_write_taking_no_body_refuses_one_in_a_charset_it_does_not_read(admin_api):
    response = admin_api.generic(
        "POST", "/api/v1/invoices/1/issue", b"x", content_type="text/plain; charset=zlib_codec"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
