"""The operator's tour of the admin, in headless Chromium, over the demo's month.

Runs `demo --no-serve` for October 2026, then opens the pages an operator works in and checks
what a person would see on each. With ARCADIA_SCREENSHOTS=1 the screenshots are written to
docs/img/ (the README's tour shows them); otherwise to the test's temp dir.
"""

from __future__ import annotations

import os
import secrets
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from invoicing.models import TenantInvoice
from tests.browser import SCREENSHOTS, Elements, chromium_or_skip, png_size, run_chromium

pytestmark = [pytest.mark.chromium, pytest.mark.django_db(transaction=True)]

WINDOW = (1400, 1000)


def tour_pages() -> list[tuple[str, str, list[str]]]:
    acme = TenantInvoice.objects.get(tenant_id="acme", period_start="2026-10-01")
    return [
        (
            "tour-1-resources",
            "/admin/inventory/cloudresource/?state=live",
            ["Select cloud resource to change", "acme-web-1", "acme-lb", "droplet_backup"],
        ),
        (
            "tour-2-do-invoice",
            "/admin/billing/cloudinvoice/",
            ["DigitalOcean invoices", "1 Oct 2026", "6411.66"],
        ),
        (
            "tour-3-invoices",
            "/admin/invoicing/tenantinvoice/?period=2026-10-01",
            ["acme", "globex", "initech", "ARC-2026-000001", "Issued"],
        ),
        (
            "tour-4-invoice",
            f"/admin/invoicing/tenantinvoice/{acme.pk}/change/",
            # the demo's Acme upgrades to pro on the 16th: studio prices 1-15 with 15/31 of 1488 h
            ["Studio plan (version 1)", "Droplet hours beyond the 720 hour allowance", "GST"],
        ),
        (
            "tour-7-tax-invoice",
            f"/admin/invoicing/tenantinvoice/{acme.pk}/document/",
            ["Tax invoice", acme.number, "ABN 33 102 417 032", "Deployment acme-shop", "Net after"],
        ),
        (
            "tour-5-drift",
            "/admin/drift/clouddrift/",
            ["acme-db-1", "size_slug", "s-4vcpu-8gb", "s-2vcpu-4gb"],
        ),
        (
            "tour-6-margin",
            "/admin/analytics/margin/?period=2026-10",
            ["Margin dashboard — October 2026", "COGS converted USD→AUD at 1 USD = 1.55 AUD"],
        ),
    ]


def test_the_operators_tour_renders_in_chromium(live_server, settings, tmp_path):
    chromium = chromium_or_skip("the operator's admin tour")
    settings.VAR_DIR = tmp_path / "var"
    call_command("demo", "--no-serve", "--period", "2026-10", stdout=StringIO())
    operator = User.objects.get(username="admin")
    token = secrets.token_urlsafe(16)
    settings.ROOT_URLCONF = "tests.browser"
    settings.BROWSER_TEST_LOGIN = {token: operator.username}
    publish = os.environ.get("ARCADIA_SCREENSHOTS") == "1"
    target_dir = SCREENSHOTS if publish else tmp_path
    target_dir.mkdir(parents=True, exist_ok=True)

    for name, path, expected in tour_pages():
        url = f"{live_server.url}/test-login/{token}/?{urlencode({'next': path})}"
        shot = target_dir / f"{name}.png"
        run_chromium(chromium, tmp_path / f"p-{name}", WINDOW, f"--screenshot={shot}", url)
        dom = run_chromium(chromium, tmp_path / f"d-{name}", WINDOW, "--dump-dom", url).stdout
        data = shot.read_bytes()
        assert png_size(data) == WINDOW
        assert len(data) > 20 * 1024, f"{name}: suspiciously small screenshot"
        page = Elements()
        page.feed(dom)
        text = page.flat_text()
        assert "Log in" not in text[:300], f"{name}: not logged in"
        for snippet in expected:
            assert snippet in text, f"{name}: {snippet!r} not on the page"
