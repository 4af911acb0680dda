"""Headless Chromium for admin tests, and a test-only URLconf with a one-token login.

Chromium's command line cannot set a cookie, so the browser opens /test-login/<token>/?next=…:
the view logs in the user named in settings.BROWSER_TEST_LOGIN = {token: username} and
redirects to `next` (admin paths only). Use it as ROOT_URLCONF = "tests.browser"; it is never
part of the real URLconf.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path

from arcadia_cloud.urls import urlpatterns as project_urlpatterns

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "img"


def test_login(request: HttpRequest, token: str) -> HttpResponseRedirect:
    username = getattr(settings, "BROWSER_TEST_LOGIN", {}).get(token)
    target = request.GET.get("next", "/admin/")
    if username is None or not target.startswith("/admin/"):
        raise Http404("unknown token")
    user = User.objects.get(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(target)


test_login.__test__ = False  # a view, not a pytest test
urlpatterns = [path("test-login/<str:token>/", test_login), *project_urlpatterns]


def chromium_or_skip(what: str) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        reason = (
            f"CHROMIUM NOT INSTALLED: {what} was NOT checked in a browser "
            "(bin/test installs chromium when run as root)"
        )
        print(f"\n!!! {reason} !!!")
        pytest.skip(reason)
    return chromium


def run_chromium(
    chromium: str, profile: Path, window: tuple[int, int], *args: str
) -> subprocess.CompletedProcess:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class Elements(HTMLParser):
    """Every element's tag and attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.elements if "id" in attrs}

    def bars(self) -> list[dict[str, str]]:
        return [
            attrs
            for tag, attrs in self.elements
            if tag == "g" and "bar" in attrs.get("class", "").split()
        ]

    def flat_text(self) -> str:
        return " ".join(" ".join(self.text).split())
