"""The served handler keeps route matches per path (arcadia_cloud.routing): the same view and
arguments as Django's own resolution, nothing kept for a path that matches nothing, and a
request's own URLconf (or another ROOT_URLCONF) resolved against that URLconf."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings
from django.urls import Resolver404, resolve

from arcadia_cloud.errors import api_route_not_found
from arcadia_cloud.routing import _resolved
from arcadia_cloud.wsgi import application


@pytest.fixture(autouse=True)
def _empty_cache():
    _resolved.cache_clear()
    yield
    _resolved.cache_clear()


def resolved(path: str, **attrs):
    request = RequestFactory().get(path)
    for name, value in attrs.items():
        setattr(request, name, value)
    match = application.resolve_request(request)
    assert request.resolver_match is match
    return match


def test_a_kept_match_is_djangos_match_and_is_reused():
    first = resolved("/api/v1/inventory/7")
    reference = resolve("/api/v1/inventory/7")
    assert (first.func, first.args, first.kwargs, first.url_name) == (
        reference.func,
        reference.args,
        reference.kwargs,
        reference.url_name,
    )
    assert resolved("/api/v1/inventory/7") is first
    other = resolved("/api/v1/inventory/8")
    assert other.kwargs == {"pk": 8} and first.kwargs == {"pk": 7}
    assert _resolved.cache_info().currsize == 2


def test_a_path_that_matches_nothing_is_not_kept():
    for _ in range(2):
        with pytest.raises(Resolver404):
            resolved("/no-such-page")
    assert _resolved.cache_info().currsize == 0


def test_a_requests_own_urlconf_resolves_against_it():
    match = resolved("/api/probe/write", urlconf="tests.urls_probe")
    assert match.func.view_class.__name__ == "ProbeWriteView"
    assert _resolved.cache_info().currsize == 0  # Django's own resolution served it
    # In the product's URLconf the same path is the API's not-found route.
    assert resolved("/api/probe/write").func is api_route_not_found


def test_another_root_urlconf_is_another_resolver():
    assert resolved("/api/probe/write").func is api_route_not_found
    with override_settings(ROOT_URLCONF="tests.urls_probe"):
        match = resolved("/api/probe/write")
    assert match.func.view_class.__name__ == "ProbeWriteView"
    assert resolved("/api/probe/write").func is api_route_not_found
