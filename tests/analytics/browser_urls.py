"""Test-only URLs for the headless-browser test: the project's URLs plus a one-token login.

Chromium's command line cannot set a cookie, so the browser opens /test-login/<token>/?next=…:
the view logs the user the test named in settings.ANALYTICS_TEST_LOGIN = {token: username} in
and redirects to `next` (admin paths only). This module is never part of the real URLconf.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import path

from arcadia_cloud.urls import urlpatterns as project_urlpatterns


def test_login(request: HttpRequest, token: str) -> HttpResponseRedirect:
    username = getattr(settings, "ANALYTICS_TEST_LOGIN", {}).get(token)
    target = request.GET.get("next", "/admin/")
    if username is None or not target.startswith("/admin/"):
        raise Http404("unknown token")
    user = User.objects.get(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(target)


urlpatterns = [path("test-login/<str:token>/", test_login), *project_urlpatterns]
