"""A small, strict client for the DigitalOcean v2 API.

Why strict: inventory sync tombstones resources that a listing no longer returns, so a listing
must either be complete (every page fetched) or raise. Nothing here returns a partial list.

Retries: 429 (honouring Retry-After, else RateLimit-Reset), 5xx, connection errors and
timeouts are retried with exponential backoff inside a bounded total wait; other 4xx never are.
A POST is only retried when DO provably did not act on it (429, connect timeout), so a project
is never created twice.

The token travels in the Authorization header only; it never appears in a URL, a log line or
an error message.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from django.conf import settings

from .errors import (
    DigitalOceanError,
    DOAuthError,
    DOBadPayload,
    DOClientError,
    DONotFound,
    DORateLimited,
    DOResponseTooLarge,
    DOServerError,
)
from .ratelimit import DEFAULT_MAX_WAIT_SECONDS, PER_HOUR, PER_MINUTE, RateBudget, store_for

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

DEFAULT_BASE_URL = "https://api.digitalocean.com"
PER_PAGE = 200
USER_AGENT = "arcadia-cloud (+inventory sync)"
BACKOFF_BASE_SECONDS = 0.5
MAX_SINGLE_WAIT_SECONDS = 30.0
BODY_EXCERPT_CHARS = 200
# Far above any real invoice (50,000 lines are about 6 MB); the ingest passes its own setting.
DEFAULT_MAX_CSV_BYTES = 20 * 1024 * 1024
STREAM_CHUNK_BYTES = 64 * 1024
# 31 days of a 100,000-resource account at 200 points a page is under 20,000 pages.
MAX_INSIGHT_PAGES = 50_000
SNAPSHOT_RESOURCE_TYPES = ("droplet", "volume")
DROPLET_TYPE_GPUS = "gpus"
TOKEN_PURPOSES = {
    "sync": "DO_TOKEN_SYNC",
    "billing": "DO_TOKEN_BILLING",
    "provisioning": "DO_TOKEN_PROVISIONING",
}
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class DigitalOceanClient:
    """DigitalOcean API v2 over `requests`, with pagination, retries and typed errors."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | tuple[float, float] = (5, 30),
        max_retries: int = 5,
        max_total_wait: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: RateBudget | None = None,
    ) -> None:
        if not token:
            raise ValueError("a DigitalOcean API token is required")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_total_wait = max_total_wait
        self._session = session or requests.Session()
        self._sleep = sleep
        # The token's share of DigitalOcean's rate limits (None: not budgeted, e.g. tests).
        self.budget = budget

    def __repr__(self) -> str:
        return f"<DigitalOceanClient {self.base_url}>"

    # -- listings (complete or raise) -----------------------------------------------------

    def list_droplets(self) -> list[JSON]:
        """Every droplet, GPU droplets included: DO leaves those out of `/v2/droplets` unless
        asked for with `type=gpus`, so both listings are read (each complete or raising)."""
        droplets = self._list("/v2/droplets", "droplets")
        seen = {str(d.get("id")) for d in droplets if isinstance(d, dict)}
        gpus = self._list("/v2/droplets", "droplets", {"type": DROPLET_TYPE_GPUS})
        return droplets + [
            d for d in gpus if not isinstance(d, dict) or str(d.get("id")) not in seen
        ]

    def list_domains(self) -> list[JSON]:
        return self._list("/v2/domains", "domains")

    def list_volumes(self) -> list[JSON]:
        return self._list("/v2/volumes", "volumes")

    def list_snapshots(self, resource_type: str | None = None) -> list[JSON]:
        """All snapshots, or only `droplet` / `volume` ones."""
        if resource_type is not None and resource_type not in SNAPSHOT_RESOURCE_TYPES:
            allowed = ", ".join(SNAPSHOT_RESOURCE_TYPES)
            raise ValueError(f"resource_type {resource_type!r} is not one of {allowed}")
        params = {"resource_type": resource_type} if resource_type else None
        return self._list("/v2/snapshots", "snapshots", params)

    def list_reserved_ips(self) -> list[JSON]:
        """Reserved IPs; accounts (or API versions) without the endpoint answer via floating IPs."""
        try:
            return self._list("/v2/reserved_ips", "reserved_ips")
        except DONotFound:
            logger.info("DO /v2/reserved_ips answered 404; listing /v2/floating_ips instead")
            return self._list("/v2/floating_ips", "floating_ips")

    def list_databases(self) -> list[JSON]:
        return self._list("/v2/databases", "databases")

    def list_kubernetes_clusters(self) -> list[JSON]:
        return self._list("/v2/kubernetes/clusters", "kubernetes_clusters")

    def list_apps(self) -> list[JSON]:
        return self._list("/v2/apps", "apps")

    def list_reserved_ipv6(self) -> list[JSON]:
        return self._list("/v2/reserved_ipv6", "reserved_ipv6s")

    def list_registries(self) -> list[JSON]:
        """The account's container registry (with its subscription) as a listing: one item,
        or none when the account has no registry (DO answers 404)."""
        try:
            payload = self._json("GET", self._url("/v2/registry"), expected_key="registry")
        except DONotFound:
            return []
        registry = payload["registry"]
        return [registry] if isinstance(registry, dict) else []

    def list_firewalls(self) -> list[JSON]:
        return self._list("/v2/firewalls", "firewalls")

    def list_load_balancers(self) -> list[JSON]:
        return self._list("/v2/load_balancers", "load_balancers")

    def list_projects(self) -> list[JSON]:
        return self._list("/v2/projects", "projects")

    def list_project_resources(self, project_id: str) -> list[JSON]:
        return self._list(f"/v2/projects/{_segment(project_id)}/resources", "resources")

    def list_private_images(self) -> list[JSON]:
        """The account's own images (`/v2/images?private=true`): droplet backups
        (`type: backup`), snapshots and custom images, in one paginated listing."""
        return self._list("/v2/images", "images", {"private": "true"})

    def list_droplet_backups(self, droplet_id: int | str) -> list[JSON]:
        return self._list(f"/v2/droplets/{_segment(droplet_id)}/backups", "backups")

    def list_invoice_items(self, invoice_uuid: str) -> list[JSON]:
        """The invoice as JSON: every item, with `resource_uuid` / `resource_id` where DO
        knows the resource (the CSV carries no ids)."""
        path = f"/v2/customers/my/invoices/{_segment(invoice_uuid)}"
        return self._list(path, "invoice_items")

    def list_billing_history(self) -> list[JSON]:
        """Every billing-history entry: invoices AND payments (callers filter on `type`)."""
        return self._list("/v2/customers/my/billing_history", "billing_history")

    # -- price list (issue 18) ----------------------------------------------------------------

    def list_sizes(self) -> list[JSON]:
        """Droplet sizes with DigitalOcean's list prices (`price_hourly`, `price_monthly`, USD)."""
        return self._list("/v2/sizes", "sizes")

    def get_database_options(self) -> JSON:
        """Managed database engines with their layouts (node counts and size slugs; no prices)."""
        return self._json("GET", self._url("/v2/databases/options"), expected_key="options")[
            "options"
        ]

    def get_kubernetes_options(self) -> JSON:
        """Kubernetes versions, regions and node sizes (droplet slugs; priced by /v2/sizes)."""
        return self._json("GET", self._url("/v2/kubernetes/options"), expected_key="options")[
            "options"
        ]

    def list_app_instance_sizes(self) -> list[JSON]:
        """App Platform instance sizes with `usd_per_month` / `usd_per_second` (strings)."""
        url = self._url("/v2/apps/tiers/instance_sizes")
        sizes = self._json("GET", url, expected_key="instance_sizes")["instance_sizes"]
        if not isinstance(sizes, list):
            raise DOBadPayload(
                f"DigitalOcean GET {_short(url)}: 'instance_sizes' is not a list",
                status=200,
                url=url,
            )
        return sizes

    def list_billing_insights(
        self, account_urn: str, start_date: dt.date, end_date: dt.date
    ) -> list[JSON]:
        """Every billing data point (daily cost per SKU, region and description) of the days
        [start_date, end_date] (`/v2/billing/{account_urn}/insights/{start}/{end}`; DigitalOcean
        serves at most 31 days at once). Its pagination is by page number (`total_pages`,
        `current_page`), not `links`: every page is fetched, or this raises."""
        if end_date < start_date:
            raise ValueError("end_date must not be before start_date")
        path = (
            f"/v2/billing/{_segment(account_urn, safe=':')}/insights/"
            f"{start_date.isoformat()}/{end_date.isoformat()}"
        )
        points: list[JSON] = []
        page, total_pages, expected_total = 1, 1, None
        while page <= total_pages:
            url = self._url(path, {"per_page": PER_PAGE, "page": page})
            payload = self._json("GET", url, expected_key="data_points")
            page_points = payload["data_points"]
            total_pages = payload.get("total_pages")
            if (
                not isinstance(page_points, list)
                or not _is_count(total_pages)
                or payload.get("current_page") != page
            ):
                raise DOBadPayload(
                    f"DigitalOcean GET {_short(url)}: not a page of billing data points "
                    f"(data_points a list, total_pages a count, current_page {page})",
                    status=200,
                    url=url,
                )
            if total_pages > MAX_INSIGHT_PAGES:
                raise DOBadPayload(
                    f"DigitalOcean GET {_short(url)}: total_pages {total_pages} is beyond "
                    f"{MAX_INSIGHT_PAGES}; refusing to page on",
                    status=200,
                    url=url,
                )
            points.extend(page_points)
            expected_total = payload.get("total_items", expected_total)
            page += 1
        if _is_count(expected_total) and expected_total != len(points):
            raise DOBadPayload(
                f"DigitalOcean GET {_short(path)}: {len(points)} data points arrived but "
                f"total_items says {expected_total} (the listing changed while paging)",
                status=200,
                url=self._url(path),
            )
        return points

    # -- monitoring -----------------------------------------------------------------------

    def get_droplet_bandwidth(
        self,
        droplet_id: int | str,
        *,
        start: int,
        end: int,
        interface: str = "public",
        direction: str = "outbound",
    ) -> list[tuple[int, Decimal]]:
        """The droplet's bandwidth series in [start, end] (UNIX seconds) as (timestamp, Mbps)
        points in time order (`/v2/monitoring/metrics/droplet/bandwidth`). An empty list: DO
        has no data for the window. A malformed series raises DOBadPayload, never a guess."""
        if interface not in ("public", "private") or direction not in ("inbound", "outbound"):
            raise ValueError("interface is public|private and direction inbound|outbound")
        params = {
            "host_id": str(droplet_id),
            "interface": interface,
            "direction": direction,
            "start": str(int(start)),
            "end": str(int(end)),
        }
        url = self._url("/v2/monitoring/metrics/droplet/bandwidth", params)
        payload = self._json("GET", url, expected_key="data")
        data = payload["data"]
        result = data.get("result") if isinstance(data, dict) else None
        if payload.get("status") not in (None, "success") or not isinstance(result, list):
            raise DOBadPayload(
                f"DigitalOcean GET {_short(url)}: no metric result (status "
                f"{payload.get('status')!r})",
                status=200,
                url=url,
            )
        points: dict[int, Decimal] = {}
        try:
            for series in result:
                for timestamp, value in series["values"]:
                    rate = Decimal(str(value))
                    if not rate.is_finite() or rate < 0:
                        raise ValueError(value)
                    points[int(timestamp)] = points.get(int(timestamp), Decimal(0)) + rate
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise DOBadPayload(
                f"DigitalOcean GET {_short(url)}: a bandwidth point is not [timestamp, Mbps]",
                status=200,
                url=url,
            ) from None
        return sorted(points.items())

    # -- single objects -------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        *,
        purpose: str,
        description: str = "",
        environment: str = "Production",
    ) -> JSON:
        body = {
            "name": name,
            "purpose": purpose,
            "description": description,
            "environment": environment,
        }
        payload = self._json("POST", self._url("/v2/projects"), body=body, expected_key="project")
        return payload["project"]

    def droplet_action(self, droplet_id: int | str, action_type: str) -> JSON:
        """Ask for a droplet action (`power_off`, `power_on`); returns DO's action object,
        to follow with `get_action`. A POST: not resent on a 5xx (it may have been taken)."""
        path = f"/v2/droplets/{_segment(droplet_id)}/actions"
        body = {"type": action_type}
        payload = self._json("POST", self._url(path), body=body, expected_key="action")
        return payload["action"]

    def get_action(self, action_id: int | str) -> JSON:
        path = f"/v2/actions/{_segment(action_id)}"
        return self._json("GET", self._url(path), expected_key="action")["action"]

    def get_balance(self) -> JSON:
        return self._json(
            "GET", self._url("/v2/customers/my/balance"), expected_key="month_to_date_balance"
        )

    def get_invoice_summary(self, invoice_uuid: str) -> JSON:
        url = self._url(f"/v2/customers/my/invoices/{_segment(invoice_uuid)}/summary")
        return self._json("GET", url, expected_key="invoice_uuid")

    def get_invoice_csv(
        self, invoice_uuid: str, *, max_bytes: int = DEFAULT_MAX_CSV_BYTES
    ) -> bytes:
        """The invoice's CSV (text/csv: never JSON-decode it) as the bytes DO sent, undecoded:
        the ingest decodes them strictly, whatever charset the response claims.

        Streamed: a body declaring, or delivering, more than `max_bytes` (after any transfer
        compression is undone) raises DOResponseTooLarge as soon as that is known, so an
        oversized body is never held whole. A connection lost mid-body is a DOServerError.
        """
        url = self._url(f"/v2/customers/my/invoices/{_segment(invoice_uuid)}/csv")
        response = self._request("GET", url, accept="text/csv", stream=True)
        with response:  # releases the connection even when the body is abandoned
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise self._too_large(url, max_bytes, f"declares {int(declared)} bytes")
            body = bytearray()
            try:
                for chunk in response.iter_content(chunk_size=STREAM_CHUNK_BYTES):
                    body += chunk
                    if len(body) > max_bytes:
                        raise self._too_large(url, max_bytes, f"sent over {max_bytes} bytes")
            except _TRANSPORT_ERRORS as exc:
                raise self._transport_error("GET", url, exc, attempts=1, waited=0.0) from exc
            except requests.exceptions.ContentDecodingError as exc:
                raise DOBadPayload(
                    f"DigitalOcean GET {_short(url)}: the body's transfer compression is "
                    f"broken ({type(exc).__name__})",
                    status=response.status_code,
                    url=url,
                ) from exc
        return bytes(body)

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = f"{self.base_url}{path}"
        return f"{url}?{urlencode(params)}" if params else url

    def _list(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[JSON]:
        """Follow `links.pages.next` until the last page; return items only if all arrived."""
        url: str | None = self._url(path, {"per_page": PER_PAGE, **(params or {})})
        visited: set[str] = set()
        items: list[JSON] = []
        expected_total: Any = None
        while url is not None:
            visited.add(url)
            payload = self._json("GET", url, expected_key=key)
            page = payload[key]
            if not isinstance(page, list):
                raise DOBadPayload(
                    f"DigitalOcean GET {_short(url)}: {key!r} is a {type(page).__name__}, "
                    "expected a list",
                    status=200,
                    url=url,
                )
            items.extend(page)
            meta = payload.get("meta")
            if isinstance(meta, dict):
                expected_total = meta.get("total", expected_total)
            url = self._next_page(payload, url, visited)
        if isinstance(expected_total, int) and expected_total != len(items):
            # Offset pagination shifts when objects appear or vanish mid-listing; worth a note,
            # not a failure: the next sync sees a settled account.
            logger.warning(
                "DO %s listed %d %s but meta.total says %d (account changed while paging?)",
                path,
                len(items),
                key,
                expected_total,
            )
        return items

    def _next_page(self, payload: JSON, current_url: str, visited: set[str]) -> str | None:
        """The next page URL, or None on the last page (`links` missing, `{}` or no `next`)."""
        links = payload.get("links")
        pages = links.get("pages") if isinstance(links, dict) else None
        next_url = pages.get("next") if isinstance(pages, dict) else None
        if not next_url:
            return None
        if not isinstance(next_url, str):
            raise DOBadPayload(
                f"DigitalOcean GET {_short(current_url)}: links.pages.next is not a URL",
                status=200,
                url=current_url,
            )
        if _origin(next_url) != _origin(self.base_url):
            # Following it would hand our bearer token to another host.
            raise DOBadPayload(
                f"DigitalOcean GET {_short(current_url)}: next page points at another host "
                f"({_origin(next_url)}); refusing to follow it",
                status=200,
                url=current_url,
            )
        if next_url in visited:
            raise DOBadPayload(
                f"DigitalOcean GET {_short(current_url)}: pagination loops back to "
                f"{_short(next_url)}",
                status=200,
                url=current_url,
            )
        return next_url

    def _json(self, method: str, url: str, *, body: JSON | None = None, expected_key: str) -> JSON:
        response = self._request(method, url, body=body)
        try:
            payload = response.json()
        except ValueError:
            raise DOBadPayload(
                f"DigitalOcean {method} {_short(url)} answered {response.status_code} with a "
                f"body that is not JSON: {self._excerpt(response.text)!r}",
                status=response.status_code,
                url=url,
            ) from None
        if not isinstance(payload, dict) or expected_key not in payload:
            raise DOBadPayload(
                f"DigitalOcean {method} {_short(url)} answered {response.status_code} without "
                f"the expected key {expected_key!r}: {self._excerpt(response.text)!r}",
                status=response.status_code,
                url=url,
            )
        return payload

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: JSON | None = None,
        accept: str = "application/json",
        stream: bool = False,
    ) -> requests.Response:
        """Send one logical request, retrying transient failures within the wait budget.

        With `stream`, a successful response's body is left unread for the caller."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": accept,
            "User-Agent": USER_AGENT,
        }
        attempts = 0
        waited = 0.0
        while True:
            attempts += 1
            if self.budget is not None:
                self.budget.spend(self._sleep)  # raises DOBudgetExhausted: defer, not fail
            try:
                response = self._session.request(
                    method, url, headers=headers, json=body, timeout=self.timeout, stream=stream
                )
            except _TRANSPORT_ERRORS as exc:
                if not self._retryable_exception(method, exc):
                    raise self._transport_error(method, url, exc, attempts, waited) from exc
                failure: requests.Response | requests.RequestException = exc
                hint = None
            else:
                self._log_rate_limit(method, url, response)
                if self.budget is not None:
                    self.budget.observe(response.headers, response.status_code)
                if response.status_code < 400:
                    return response
                if not self._retryable_status(method, response.status_code):
                    raise self._status_error(method, url, response)
                failure = response
                hint = _server_wait_hint(response)

            delay = self._next_delay(attempts, hint)
            if attempts > self.max_retries or waited + delay > self.max_total_wait:
                raise self._exhausted_error(method, url, failure, attempts, waited)
            logger.warning(
                "DO %s %s failed (%s); retry %d/%d in %.1fs",
                method,
                _short(url),
                self._describe(failure),
                attempts,
                self.max_retries,
                delay,
            )
            self._sleep(delay)
            waited += delay

    @staticmethod
    def _retryable_status(method: str, status: int) -> bool:
        if status == 429:
            return True
        return status >= 500 and method in _IDEMPOTENT_METHODS

    @staticmethod
    def _retryable_exception(method: str, exc: requests.RequestException) -> bool:
        # A connect timeout means the request never left: safe to resend even a POST.
        return method in _IDEMPOTENT_METHODS or isinstance(exc, requests.ConnectTimeout)

    @staticmethod
    def _next_delay(attempt: int, hint: float | None) -> float:
        """The server's hint when it gave one, else exponential backoff with a little jitter."""
        if hint is not None and hint > 0:
            return min(hint, MAX_SINGLE_WAIT_SECONDS)
        backoff = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
        jitter = random.uniform(0, backoff / 10)
        return min(backoff + jitter, MAX_SINGLE_WAIT_SECONDS)

    def _log_rate_limit(self, method: str, url: str, response: requests.Response) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            headers = response.headers
            logger.debug(
                "DO %s %s -> %d ratelimit-limit=%s ratelimit-remaining=%s ratelimit-reset=%s",
                method,
                _short(url),
                response.status_code,
                headers.get("ratelimit-limit"),
                headers.get("ratelimit-remaining"),
                headers.get("ratelimit-reset"),
            )

    def _status_error(
        self, method: str, url: str, response: requests.Response
    ) -> DigitalOceanError:
        status = response.status_code
        error_type: type[DigitalOceanError]
        if status in (401, 403):
            error_type, what = DOAuthError, "the API token was refused"
        elif status == 404:
            error_type, what = DONotFound, "not found"
        elif status >= 500:
            error_type, what = DOServerError, "server error"
        else:
            error_type, what = DOClientError, "request rejected"
        return error_type(
            f"DigitalOcean {method} {_short(url)} answered {status} ({what}): "
            f"{self._error_detail(response)}",
            status=status,
            url=url,
        )

    def _exhausted_error(
        self,
        method: str,
        url: str,
        failure: requests.Response | requests.RequestException,
        attempts: int,
        waited: float,
    ) -> DigitalOceanError:
        if isinstance(failure, requests.RequestException):
            return self._transport_error(method, url, failure, attempts, waited)
        error_type = DORateLimited if failure.status_code == 429 else DOServerError
        return error_type(
            f"DigitalOcean {method} {_short(url)} still answered {failure.status_code} after "
            f"{attempts} attempts ({waited:.1f}s waiting): {self._error_detail(failure)}",
            status=failure.status_code,
            url=url,
        )

    def _too_large(self, url: str, limit: int, what: str) -> DOResponseTooLarge:
        return DOResponseTooLarge(
            f"DigitalOcean GET {_short(url)} {what}, more than the {limit} allowed; "
            "not downloaded further",
            status=200,
            url=url,
            limit=limit,
        )

    def _transport_error(
        self,
        method: str,
        url: str,
        exc: requests.RequestException,
        attempts: int,
        waited: float,
    ) -> DOServerError:
        return DOServerError(
            f"DigitalOcean {method} {_short(url)} failed after {attempts} attempt(s) "
            f"({waited:.1f}s waiting): {self._describe(exc)}",
            url=url,
        )

    def _describe(self, failure: requests.Response | requests.RequestException) -> str:
        if isinstance(failure, requests.Response):
            return f"HTTP {failure.status_code}"
        kind = "timeout" if isinstance(failure, requests.Timeout) else "connection error"
        return f"{kind} ({type(failure).__name__}): {self._excerpt(str(failure))}"

    def _error_detail(self, response: requests.Response) -> str:
        """DO's `id: message` when the body has them, else a short excerpt of the body."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("message"):
            detail = f"{payload.get('id', 'error')}: {payload['message']}"
            return self._redact(detail)[:BODY_EXCERPT_CHARS]
        return repr(self._excerpt(response.text))

    def _excerpt(self, text: str) -> str:
        collapsed = " ".join((text or "").split())
        excerpt = collapsed[:BODY_EXCERPT_CHARS]
        if len(collapsed) > BODY_EXCERPT_CHARS:
            excerpt += "…"
        return self._redact(excerpt) or "<empty body>"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]")


def client_for(purpose: str) -> DigitalOceanClient | None:
    """The client for one token purpose, or None when no token is configured.

    Each purpose has its own setting (`DO_TOKEN_SYNC`, `DO_TOKEN_BILLING`,
    `DO_TOKEN_PROVISIONING`) so a billing-only token never gets write scope; each falls back to
    `DO_API_TOKEN`. Callers treat None as "not configured": log one line and exit successfully.
    """
    try:
        setting_name = TOKEN_PURPOSES[purpose]
    except KeyError:
        raise ValueError(
            f"unknown DigitalOcean token purpose {purpose!r}; use one of "
            f"{', '.join(sorted(TOKEN_PURPOSES))}"
        ) from None
    token = _setting_text(setting_name) or _setting_text("DO_API_TOKEN")
    if not token:
        return None
    base_url = _setting_text("DO_API_BASE_URL") or DEFAULT_BASE_URL
    return DigitalOceanClient(base_url, token, budget=rate_budget_for(token))


def rate_budget_for(token: str) -> RateBudget:
    """The token's budget, shared by every client of it: in Redis when the Celery broker is
    Redis, in this process otherwise (`DO_RATE_LIMIT_PER_MINUTE`, `DO_RATE_LIMIT_PER_HOUR`)."""
    return RateBudget(
        token,
        store=store_for(_setting_text("CELERY_BROKER_URL")),
        per_minute=int(getattr(settings, "DO_RATE_LIMIT_PER_MINUTE", PER_MINUTE)),
        per_hour=int(getattr(settings, "DO_RATE_LIMIT_PER_HOUR", PER_HOUR)),
        max_wait=float(getattr(settings, "DO_RATE_BUDGET_MAX_WAIT", DEFAULT_MAX_WAIT_SECONDS)),
    )


def _setting_text(name: str) -> str:
    return str(getattr(settings, name, "") or "").strip()


def _server_wait_hint(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or HTTP date), else the
    RateLimit-Reset epoch; None when it said nothing usable."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("RateLimit-Reset")
    if reset and response.status_code == 429:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def _segment(value: int | str, *, safe: str = "") -> str:
    """One URL path segment, so an id can never add path components."""
    return quote(str(value), safe=safe)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _short(url: str) -> str:
    """Path and query of a URL: enough to identify the request in a message."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
