"""Route resolution kept per path for the served process (`arcadia_cloud.wsgi`).

Django resolves every request by walking the URLconf pattern by pattern: the API's routes sit
in one include per app, so `GET /api/v1/invoices` was tried against some forty patterns before
it matched — a tenth of that request's CPU (docs/performance.md, "API under load"). A match
depends only on the URLconf and the path, and Django's `ResolverMatch` is read, never changed,
by what serves the request, so the handler keeps the last `ROUTE_CACHE_SIZE` matches per
(resolver, path). A path that matches nothing is not kept (the 404 is resolved again each time),
and a request carrying its own `urlconf` (a middleware may set one) resolves as Django does.
"""

from __future__ import annotations

from functools import lru_cache

from django.urls import ResolverMatch, URLResolver, get_resolver

ROUTE_CACHE_SIZE = 4096


@lru_cache(maxsize=ROUTE_CACHE_SIZE)
def _resolved(resolver: URLResolver, path_info: str) -> ResolverMatch:
    return resolver.resolve(path_info)  # a Resolver404 raises through: never kept


class KeptRoutesMixin:
    """For a Django handler: `resolve_request` through the per-path cache."""

    def resolve_request(self, request):
        if hasattr(request, "urlconf"):
            return super().resolve_request(request)
        match = _resolved(get_resolver(), request.path_info)
        request.resolver_match = match
        return match
