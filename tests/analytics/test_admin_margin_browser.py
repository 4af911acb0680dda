"""The margin dashboard in a real browser: headless Chromium renders it from a live server.

The test logs a finance user in through a test-only login URL (tests/browser.py),
takes a screenshot and dumps the DOM of the same page, and checks what a person would see:
the P&L tables, bars for each tenant in the margin chart, the FX note and the accrual panel.
With ARCADIA_SCREENSHOTS=1 the screenshot is written to docs/img/admin-margin.png (the README
shows it); otherwise it goes to the test's temp dir so normal runs leave the tree clean.
"""

from __future__ import annotations

import os
import secrets
import urllib.request
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import month_start
from arcadia_cloud.roles import FINANCE
from tests.analytics.factories import (
    APRIL,
    balance_snapshot,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    resource_for,
    subscribe,
    tax_cost_line,
)
from tests.browser import SCREENSHOTS, Elements, chromium_or_skip, png_size, run_chromium
from tests.deployments.factories import make_deployment

pytestmark = [pytest.mark.chromium, pytest.mark.django_db(transaction=True)]

PUBLISHED_SCREENSHOT = SCREENSHOTS / "admin-margin.png"
WINDOW = (1400, 1800)
# tenant: (revenue cents, droplet COGS in USD, margin % shown); every tenant also has a 2.40
# USD snapshot. acme-studio: 49.52 USD x 1.55 = 76.756 → 76.76 AUD, margin 43.24 = 36.03%.
TENANTS = {
    "acme-studio": (12000, "47.12", "36.03%"),
    "globex": (5000, "13.90", "49.46%"),
    "initech": (2000, "12.80", "-17.80%"),
}


def april_with_three_tenants() -> None:
    """Three tenants with invoices and DigitalOcean costs (one at a loss), an unattributed line
    and a rate; plus a subscription and a balance snapshot this month for the accrual panel."""
    do_invoice = cost_invoice()
    for tenant_id, (revenue, droplet_usd, _) in TENANTS.items():
        deployment = make_deployment(tenant_id=tenant_id, slug=f"{tenant_id}-web")
        make_tenant_invoice(
            tenant_id,
            [
                line("plan_base", revenue - 1500, deployment),
                line("overage", 1500, deployment, "droplet_hours"),
            ],
        )
        cost_line(do_invoice, droplet_usd, resource=resource_for(deployment=deployment))
        cost_line(do_invoice, "2.40", kind="snapshot", resource=resource_for(tenant_id=tenant_id))
    cost_line(do_invoice, "3.10")  # unattributed
    tax_cost_line(do_invoice, "8.00")
    make_rate(APRIL, "1.55")  # also the latest rate for this month's COGS to date
    subscribe("acme-studio", starts_on=month_start(utc_today()), droplets=0)
    balance_snapshot(timezone.now(), "18.40")


def test_the_margin_dashboard_renders_in_chromium(live_server, settings, tmp_path):
    chromium = chromium_or_skip("the admin margin dashboard")
    april_with_three_tenants()
    user = User.objects.create_user("fiona", password="secret-pass-1", is_staff=True)
    user.groups.add(Group.objects.get(name=FINANCE))
    token = secrets.token_urlsafe(16)
    settings.ROOT_URLCONF = "tests.browser"
    settings.BROWSER_TEST_LOGIN = {token: user.username}
    dashboard = "/admin/analytics/margin/?period=2026-04"
    url = f"{live_server.url}/test-login/{token}/?{urlencode({'next': dashboard})}"
    with urllib.request.urlopen(f"{live_server.url}/static/admin/css/base.css") as css:
        assert css.status == 200  # the admin's look is served to the browser

    screenshot = (
        PUBLISHED_SCREENSHOT
        if os.environ.get("ARCADIA_SCREENSHOTS") == "1"
        else tmp_path / "admin-margin.png"
    )
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(chromium, tmp_path / "profile-shot", WINDOW, f"--screenshot={screenshot}", url)
    dom = run_chromium(chromium, tmp_path / "profile-dom", WINDOW, "--dump-dom", url).stdout

    data = screenshot.read_bytes()
    assert len(data) > 10 * 1024, f"suspiciously small screenshot: {len(data)} bytes"
    assert png_size(data) == WINDOW
    page = Elements()
    page.feed(dom)
    text = " ".join(" ".join(page.text).split())
    assert "Margin dashboard — April 2026" in text, text[:500]
    assert {"overall", "tenants", "deployments", "revenue-by-kind", "cogs-by-kind", "accrual"} <= (
        page.ids()
    )
    assert "COGS converted USD→AUD at 1 USD = 1.55 AUD, entered for 2026-04." in text
    margin_bars = {bar["data-label"]: bar for bar in page.bars() if "Margin" in bar["data-series"]}
    assert set(margin_bars) == set(TENANTS)
    assert "negative" in margin_bars["initech"]["class"]  # 20.00 - 23.56 AUD: a loss
    assert {bar["data-series"] for bar in page.bars()} == {
        "Margin (AUD)",
        "Revenue (AUD)",
        "COGS (AUD)",
    }
    for tenant_id, (_, _, percent) in TENANTS.items():
        assert f"{tenant_id} AUD" in text and percent in text
    assert "Unattributed (1 cost line)" in text
    assert "Live accrual" in text and "acme-studio" in text
    assert "COGS to date: USD 18.40 = AUD 28.52" in text
