"""Shared fixtures: API clients holding tokens for each kind of caller."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from arcadia_cloud.auth import mint_token

TENANT_A = "4f1c9a52-8d7e-4b63-9a11-0c2d5e6f7a81"
TENANT_B = "tenant-b"


def pytest_report_header(config):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        return (
            "WARNING: tests are running on SQLite because DATABASE_URL is unset; "
            "run bin/test for the real PostgreSQL suite"
        )
    return (
        f"database: {settings.DATABASES['default']['HOST']}:{settings.DATABASES['default']['PORT']}"
    )


# The suite's usage is dated in fixed months of 2026 (the invoices it expects name them), while
# the late-usage horizon counts back from the wall clock: with the real 62 days those months
# would be refused as too old once the clock moved on. The suite therefore runs with a horizon
# reaching back to them; the tests of the horizon itself set the real value and pin the default
# (tests/invoicing/invoices/test_late_usage.py).
SUITE_LATE_USAGE_HORIZON_DAYS = 3650


@pytest.fixture(autouse=True)
def late_usage_horizon_reaching_the_suites_months(settings):
    settings.LATE_USAGE_HORIZON_DAYS = SUITE_LATE_USAGE_HORIZON_DAYS


def make_api_client(tenant_id: str, roles: list[str], **token_kwargs) -> APIClient:
    client = APIClient()
    token = mint_token(tenant_id=tenant_id, roles=roles, **token_kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.tenant_id = tenant_id
    return client


@pytest.fixture
def api_client_for():
    return make_api_client


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_api() -> APIClient:
    return make_api_client("platform-admin", ["platform_admin"], sub="ops-1")


@pytest.fixture
def tenant_a_api() -> APIClient:
    return make_api_client(TENANT_A, ["tenant_user"], sub="alice")


@pytest.fixture
def tenant_b_api() -> APIClient:
    return make_api_client(TENANT_B, ["tenant_user"], sub="bob")


@pytest.fixture
def gateway_api() -> APIClient:
    return make_api_client("platform-admin", ["llm_gateway"], sub="llm-gateway")


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def s3_server_url():
    """A real S3-compatible server (moto's server mode) on loopback for the session."""
    from integrations.spaces_sandbox import run_s3_server

    with run_s3_server() as url:
        yield url


@pytest.fixture
def s3_server(s3_server_url):
    """The session's S3 server, emptied before the test (moto's reset endpoint)."""
    import requests

    requests.post(f"{s3_server_url}/moto-api/reset", timeout=10).raise_for_status()
    return s3_server_url
