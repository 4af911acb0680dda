"""An offline DigitalOcean API: a pure-WSGI app serving an account fixture.

No build machine reaches DigitalOcean, so the client, the syncs, the billing ingest and the
demo all run against this emulator. It mimics what those callers depend on: DO's payload
shapes, page/per_page pagination with absolute `links.pages` URLs, bearer-token checks,
text/csv invoices, and the bad days (429 with Retry-After, 5xx, slow pages, garbage bodies)
through `faults`. Its clock decides which resources exist, so a test or the demo can replay a
month: resources created or destroyed mid-period appear and vanish as the clock moves.

Standard library only; `run_emulator()` serves it on a free loopback port in a daemon thread.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hmac
import http
import json
import logging
import re
import socketserver
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from arcadia_cloud.periods import month_start, previous_month

from .faults import Fault, FaultPlan
from .fixture import COLLECTIONS, Lifetime, as_of, changes_of, iso, load_fixture, validate_fixture
from .invoice import Invoice, build_invoice
from .pricelist import default_price_list
from .state import EmulatorState

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200
MAX_BODY_BYTES = 1_000_000
# Billing insights: the account's URN (a team's; the fixture's `account.urn` overrides it) and
# the widest range DigitalOcean serves ("end_date ... must be within 31 days of start_date").
DEFAULT_ACCOUNT_URN = "do:team:2f1c9a4e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
MAX_INSIGHT_DAYS = 31
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
RATE_LIMIT = 5000
PROJECT_ENVIRONMENTS = ("Development", "Staging", "Production")
DROPLET_TYPES = ("droplets", "gpus")
PROJECT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://arcadia.example/sandbox/do-projects")

# URN kind -> emulator kind, for URNs pointing at something the emulator lists itself (a
# destroyed droplet also leaves its project). Other URN kinds (space, dbaas, vpc...) are served
# as the fixture assigns them.
TRACKED_URN_KINDS = {
    "droplet": "droplets",
    "volume": "volumes",
    "domain": "domains",
    "reservedip": "reserved_ips",
    "floatingip": "reserved_ips",
    "loadbalancer": "load_balancers",
    "volumesnapshot": "snapshots",
    "dbaas": "databases",
    "kubernetes": "kubernetes_clusters",
}
# What DO puts in the default project when nobody assigned it elsewhere.
DEFAULT_PROJECT_KINDS = (
    ("droplets", "droplet"),
    ("volumes", "volume"),
    ("domains", "domain"),
    ("reserved_ips", "floatingip"),
    ("load_balancers", "loadbalancer"),
)
URN_SELF_PATHS = {
    "droplet": "/v2/droplets/",
    "volume": "/v2/volumes/",
    "domain": "/v2/domains/",
    "reservedip": "/v2/reserved_ips/",
    "floatingip": "/v2/floating_ips/",
    "loadbalancer": "/v2/load_balancers/",
    "volumesnapshot": "/v2/snapshots/",
    "dbaas": "/v2/databases/",
    "kubernetes": "/v2/kubernetes/clusters/",
    "app": "/v2/apps/",
    "vpc": "/v2/vpcs/",
}
ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
ERROR_MESSAGES = {
    401: "Unable to authenticate you",
    404: "The resource you were accessing could not be found.",
    429: "API Rate limit exceeded.",
    500: "Server was unable to give you a response.",
}


# What a droplet's status becomes once each power action completes, and how long one takes.
DROPLET_ACTION_STATUS = {"power_off": "off", "power_on": "active"}
ACTION_DELAY_SECONDS = 5


class RequestRecord(NamedTuple):
    """One served request, as `emulator.request_log` keeps it."""

    method: str
    path: str
    query: str
    status: int


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    query: dict[str, str]
    origin: str
    authorization: str
    body: bytes
    now: dt.datetime

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any], now: dt.datetime) -> Request:
        query_string = environ.get("QUERY_STRING", "")
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY_BYTES)
        except ValueError:
            length = 0
        return cls(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            path=environ.get("PATH_INFO", "/") or "/",
            query_string=query_string,
            query={key: values[0] for key, values in parse_qs(query_string).items()},
            origin=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
            authorization=environ.get("HTTP_AUTHORIZATION", ""),
            body=environ["wsgi.input"].read(length) if length else b"",
            now=now,
        )

    @property
    def page_number(self) -> int:
        """The requested page for fault matching (1 when absent or unreadable)."""
        try:
            return max(1, int(self.query.get("page", 1)))
        except ValueError:
            return 1


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class BadRequest(Exception):
    """A request the emulator refuses, answered with DO's JSON error shape."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request, re.Match[str]], Response]


class DigitalOceanEmulator:
    """The DO API as a WSGI callable, serving one account fixture.

    `period` is the month of the invoice it issues (default: last month, UTC); `clock` is its
    "now" (default: the real time) and decides which resources exist. Tests reshape the
    account through `state`, inject failures through `faults` and read `request_log`.
    """

    def __init__(
        self,
        fixture: Mapping[str, Any] | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        period: dt.date | None = None,
        clock: dt.datetime | None = None,
        rate_limits: tuple[int, int] | None = None,
        rate_clock: Callable[[], float] = time.time,
    ) -> None:
        fixture = load_fixture() if fixture is None else fixture
        self.period = month_start(period or previous_month(dt.datetime.now(dt.UTC).date()))
        validate_fixture(fixture, self.period)
        self.token = token
        self.account: JSON = dict(fixture.get("account", {}))
        self.balance: JSON = dict(fixture.get("balance", {}))
        self.registry: JSON = dict(fixture.get("registry", {}))
        self.account_urn = str(self.account.get("urn") or DEFAULT_ACCOUNT_URN)
        self.invoice: Invoice | None = (
            build_invoice(fixture["invoice"], self.period) if "invoice" in fixture else None
        )
        self._invoice_csv = self.invoice_csv_bytes()
        self._billing_extras = list(fixture.get("billing_history", []))
        self.state = EmulatorState(fixture, self.period)
        self.faults = FaultPlan()
        self.faults.load(fixture.get("faults", []))
        self.request_log: list[RequestRecord] = []
        self.base_url: str | None = None
        self._clock = _aware(clock) if clock is not None else None
        self._log_lock = threading.Lock()
        self._cache: dict[Any, tuple[Any, Any]] = {}
        self._boundaries: tuple[int, list[dt.datetime]] = (-1, [])
        # DigitalOcean's price list (issue 18): tests edit it in place to change a price.
        self.price_list: JSON = default_price_list()
        self._routes = self._build_routes()
        # Droplet power actions (POST /v2/droplets/{id}/actions): each completes, and changes
        # its droplet's status, `action_delay` after it was asked for (on the emulator's clock).
        self.action_delay = dt.timedelta(seconds=ACTION_DELAY_SECONDS)
        self.actions: dict[int, JSON] = {}
        self._next_action_id = 900_000_001
        # DO's limits (per minute, per hour), enforced on the wall clock when given; off by
        # default so tests that do not care never wait.
        self.rate_limits = rate_limits
        self._rate_clock = rate_clock
        self._sent: deque[float] = deque()

    # -- test and demo controls -----------------------------------------------------------

    def set_clock(self, clock: dt.datetime | None) -> None:
        """Move the emulator's "now" (None: follow the real time again)."""
        self._clock = _aware(clock) if clock is not None else None

    def change_instants(self) -> list[dt.datetime]:
        """Every instant at which a fixture object's fields change (`_changes`), in order: where
        a replay syncs to observe them as they happen."""
        with self.state.lock:
            return sorted(
                {
                    change.at
                    for kind in COLLECTIONS
                    for obj in self.state.iter_raw(kind)
                    for change in changes_of(obj, self.period, kind)
                }
            )

    def serve_invoice_csv(self, content: bytes | None) -> None:
        """Serve these bytes, verbatim, as the invoice's CSV (None: the invoice's own file again).

        How tests hand the ingest a broken file (cut short, header only, another encoding,
        NUL bytes, huge) while the summary and billing history still describe the real invoice.
        """
        self._invoice_csv = content if content is not None else self.invoice_csv_bytes()

    def invoice_csv_bytes(self) -> bytes:
        """The invoice's own CSV as served when no test replaced it (UTF-8)."""
        return self.invoice.csv().encode() if self.invoice else b""

    @property
    def now(self) -> dt.datetime:
        return self._clock or dt.datetime.now(dt.UTC)

    def request_count(self, path: str, *, status: int | None = None) -> int:
        """How many requests hit exactly `path` (optionally: answered with `status`)."""
        with self._log_lock:
            return sum(
                1
                for record in self.request_log
                if record.path == path and (status is None or record.status == status)
            )

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request.from_environ(environ, self.now)
        limited = self._over_rate_limit()
        response = limited[0] if limited else self._respond(request)
        with self._log_lock:
            self.request_log.append(
                RequestRecord(request.method, request.path, request.query_string, response.status)
            )
            served = len(self.request_log)
        rate_headers = (
            limited[1]
            if limited
            else self._rate_headers() or _rate_limit_headers(served, response.status)
        )
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *rate_headers,
            *response.headers,
        ]
        start_response(f"{response.status} {_reason(response.status)}", headers)
        return [response.body]

    def _over_rate_limit(self) -> tuple[Response, list[tuple[str, str]]] | None:
        """With `rate_limits`, DO's answer to a request beyond them: 429, `retry-after` and
        `ratelimit-*` (the hourly count, `reset` when its oldest request expires)."""
        if self.rate_limits is None:
            return None
        per_minute, per_hour = self.rate_limits
        now = self._rate_clock()
        with self._log_lock:
            while self._sent and self._sent[0] <= now - 3600:
                self._sent.popleft()
            in_minute = sum(1 for sent in self._sent if sent > now - 60)
            if in_minute < per_minute and len(self._sent) < per_hour:
                self._sent.append(now)
                return None
            if len(self._sent) >= per_hour:
                free_at = self._sent[0] + 3600
            else:
                free_at = next(sent for sent in self._sent if sent > now - 60) + 60
        headers = [
            ("ratelimit-limit", str(per_hour)),
            ("ratelimit-remaining", str(max(0, per_hour - len(self._sent)))),
            ("ratelimit-reset", str(int(self._sent[0] + 3600))),
            ("retry-after", str(max(1, int(free_at - now + 0.999)))),
        ]
        return _error(429), headers

    def _rate_headers(self) -> list[tuple[str, str]]:
        if self.rate_limits is None:
            return []
        per_hour = self.rate_limits[1]
        with self._log_lock:
            oldest = self._sent[0] if self._sent else self._rate_clock()
            remaining = max(0, per_hour - len(self._sent))
        return [
            ("ratelimit-limit", str(per_hour)),
            ("ratelimit-remaining", str(remaining)),
            ("ratelimit-reset", str(int(oldest + 3600))),
        ]

    def _respond(self, request: Request) -> Response:
        fault = self.faults.pick(request.path, request.page_number)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None or fault.body is not None:
                return _fault_response(fault)
        if not self._authorized(request.authorization):
            return _error(401)
        try:
            return self._route(request)
        except BadRequest as exc:
            return _error(exc.status, exc.message)
        except Exception:
            logger.exception("DO emulator failed on %s %s", request.method, request.path)
            return _error(500)

    def _authorized(self, authorization: str) -> bool:
        scheme, _, presented = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        )

    def _route(self, request: Request) -> Response:
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, match)
            allowed.append(method)
        if allowed:
            return _error(405, f"{request.method} is not allowed here; use {', '.join(allowed)}")
        return _error(404)

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        def listing(kind: str, key: str | None = None) -> Handler:
            return lambda request, _: self._paginate(
                request, key or kind, self._alive(kind, request.now)
            )

        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/v2/droplets", self._droplets),
            ("POST", r"/v2/droplets/(?P<id>[^/]+)/actions", self._droplet_action),
            ("GET", r"/v2/actions/(?P<id>[^/]+)", self._action),
            ("GET", r"/v2/droplets/(?P<id>[^/]+)/backups", self._droplet_backups),
            ("GET", r"/v2/images", self._images),
            ("GET", r"/v2/domains", listing("domains")),
            ("GET", r"/v2/volumes", listing("volumes")),
            ("GET", r"/v2/snapshots", self._snapshots),
            ("GET", r"/v2/reserved_ips", listing("reserved_ips")),
            ("GET", r"/v2/floating_ips", listing("reserved_ips", "floating_ips")),
            ("GET", r"/v2/firewalls", listing("firewalls")),
            ("GET", r"/v2/load_balancers", listing("load_balancers")),
            ("GET", r"/v2/databases", listing("databases")),
            ("GET", r"/v2/kubernetes/clusters", listing("kubernetes_clusters")),
            ("GET", r"/v2/apps", listing("apps")),
            ("GET", r"/v2/reserved_ipv6", listing("reserved_ipv6s")),
            ("GET", r"/v2/registry", self._registry),
            ("GET", r"/v2/sizes", self._sizes),
            ("GET", r"/v2/databases/options", self._database_options),
            ("GET", r"/v2/kubernetes/options", self._kubernetes_options),
            ("GET", r"/v2/apps/tiers/instance_sizes", self._app_instance_sizes),
            ("GET", r"/v2/projects", listing("projects")),
            ("POST", r"/v2/projects", self._create_project),
            ("GET", r"/v2/projects/(?P<id>[^/]+)/resources", self._project_resources),
            ("GET", r"/v2/monitoring/metrics/droplet/bandwidth", self._droplet_bandwidth),
            ("GET", r"/v2/customers/my/balance", self._balance),
            ("GET", r"/v2/customers/my/billing_history", self._billing_history),
            ("GET", r"/v2/customers/my/invoices/(?P<uuid>[^/]+)/csv", self._invoice_csv_handler),
            ("GET", r"/v2/customers/my/invoices/(?P<uuid>[^/]+)/summary", self._invoice_summary),
            ("GET", r"/v2/customers/my/invoices/(?P<uuid>[^/]+)", self._invoice_items),
            (
                "GET",
                r"/v2/billing/(?P<urn>[^/]+)/insights/(?P<start>[^/]+)/(?P<end>[^/]+)",
                self._billing_insights,
            ),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in routes]

    # -- handlers -----------------------------------------------------------------------------

    def _droplets(self, request: Request, _: re.Match[str]) -> Response:
        """DO lists GPU droplets only when asked with `type=gpus`, and only those then."""
        droplet_type = request.query.get("type", "droplets")
        if droplet_type not in DROPLET_TYPES:
            raise BadRequest(400, f"type must be one of {', '.join(DROPLET_TYPES)}")
        if "type" in request.query and "tag_name" in request.query:
            raise BadRequest(400, "type cannot be combined with tag_name")
        gpus = droplet_type == "gpus"
        droplets = [d for d in self._alive("droplets", request.now) if _is_gpu(d) == gpus]
        tag = request.query.get("tag_name")
        if tag is not None:
            droplets = [d for d in droplets if tag in (d.get("tags") or [])]
        power = self._power_states(request.now)  # power actions completed by now
        if power:
            droplets = [
                {**d, "status": power[str(d["id"])]} if str(d["id"]) in power else d
                for d in droplets
            ]
        return self._paginate(request, "droplets", droplets)

    def _snapshots(self, request: Request, _: re.Match[str]) -> Response:
        snapshots = self._alive("snapshots", request.now)
        resource_type = request.query.get("resource_type")
        if resource_type is not None:
            if resource_type not in ("droplet", "volume"):
                raise BadRequest(400, "resource_type must be droplet or volume")
            snapshots = [s for s in snapshots if s.get("resource_type") == resource_type]
        return self._paginate(request, "snapshots", snapshots)

    def _sizes(self, request: Request, _: re.Match[str]) -> Response:
        return self._paginate(request, "sizes", list(self.price_list["sizes"]))

    def _database_options(self, request: Request, _: re.Match[str]) -> Response:
        return _json_response(200, self.price_list["database_options"])

    def _kubernetes_options(self, request: Request, _: re.Match[str]) -> Response:
        return _json_response(200, {"options": self.price_list["kubernetes_options"]})

    def _app_instance_sizes(self, request: Request, _: re.Match[str]) -> Response:
        sizes = self.price_list["app_instance_sizes"]
        return _json_response(200, {"instance_sizes": sizes, "discount_percent": 0})

    def _registry(self, request: Request, _: re.Match[str]) -> Response:
        """The account's one container registry (404 when it has none, as DO answers)."""
        if not self.registry:
            return _error(404)
        return _json_response(200, {"registry": self.registry})

    def _images(self, request: Request, _: re.Match[str]) -> Response:
        """`private=true`: the account's images (backups of live droplets, droplet snapshots);
        otherwise the public base images the account's droplets run, then those."""
        private = self._cached(
            "private_images", request.now, lambda: self._private_images(request.now)
        )
        if request.query.get("private") == "true":
            return self._paginate(request, "images", private)
        public: dict[Any, JSON] = {}
        for droplet in self._alive("droplets", request.now):
            image = droplet.get("image")
            if isinstance(image, dict) and image.get("public"):
                public.setdefault(image.get("id"), image)
        return self._paginate(request, "images", [*public.values(), *private])

    def _private_images(self, now: dt.datetime) -> list[JSON]:
        images: list[JSON] = []
        for raw in self.state.iter_raw("droplets"):
            if not Lifetime.of(raw, self.period, "droplets").alive_at(now):
                continue
            images.extend({**backup, "type": "backup"} for backup in self._alive_backups(raw, now))
        for snapshot in self._alive("snapshots", now):
            if snapshot.get("resource_type") == "droplet":
                images.append(_snapshot_image(snapshot))
        images.extend(self._alive("images", now))
        return images

    def _droplet_backups(self, request: Request, match: re.Match[str]) -> Response:
        if match["id"] not in self._alive_index("droplets", request.now):
            return _error(404)
        raw = self.state.get("droplets", match["id"])
        if raw is None:  # removed between the two looks
            return _error(404)
        return self._paginate(request, "backups", self._alive_backups(raw, request.now))

    def _project_resources(self, request: Request, match: re.Match[str]) -> Response:
        project = self._find_project(match["id"], request.now)
        if project is None:
            return _error(404)
        items = self._cached(
            ("project_resources", project["id"]),
            request.now,
            lambda: self._build_project_resources(project, request.now),
        )
        resources = [{**item, "links": _self_link(request.origin, item["urn"])} for item in items]
        return self._paginate(request, "resources", resources)

    def _create_project(self, request: Request, _: re.Match[str]) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise BadRequest(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "the request body must be a JSON object")
        name, purpose = body.get("name"), body.get("purpose")
        environment = body.get("environment") or None
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(422, "name is required")
        if not isinstance(purpose, str) or not purpose.strip():
            raise BadRequest(422, "purpose is required")
        if environment is not None and environment not in PROJECT_ENVIRONMENTS:
            raise BadRequest(422, f"environment must be one of {', '.join(PROJECT_ENVIRONMENTS)}")
        with self.state.lock:
            if any(p["name"] == name for p in self.state.iter_raw("projects")):
                raise BadRequest(409, f"a project named {name!r} already exists")
            project = self.state.add("projects", self._new_project(body, request.now))
        return _json_response(201, {"project": project})

    def _droplet_action(self, request: Request, match: re.Match[str]) -> Response:
        droplet_id = match["id"]
        if droplet_id not in self._alive_index("droplets", request.now):
            raise BadRequest(404, f"droplet {droplet_id} does not exist")
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise BadRequest(400, "the request body is not valid JSON") from None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind not in DROPLET_ACTION_STATUS:
            raise BadRequest(422, f"type must be one of {', '.join(DROPLET_ACTION_STATUS)}")
        with self.state.lock:
            action_id = self._next_action_id
            self._next_action_id += 1
            self.actions[action_id] = {
                "id": action_id,
                "status": "in-progress",
                "type": kind,
                "started_at": iso(request.now),
                "completed_at": None,
                "resource_id": _int_if_numeric(droplet_id),
                "resource_type": "droplet",
                "_done_at": request.now + self.action_delay,
            }
        return _json_response(201, {"action": self._action_view(action_id, request.now)})

    def _action(self, request: Request, match: re.Match[str]) -> Response:
        action_id = _int_if_numeric(match["id"])
        if action_id not in self.actions:
            raise BadRequest(404, f"action {match['id']} does not exist")
        return _json_response(200, {"action": self._action_view(action_id, request.now)})

    def _action_view(self, action_id: int, now: dt.datetime) -> JSON:
        action = dict(self.actions[action_id])
        done_at = action.pop("_done_at")
        if now >= done_at:
            action["status"], action["completed_at"] = "completed", iso(done_at)
        return action

    def _power_states(self, now: dt.datetime) -> dict[str, str]:
        """Each droplet's status after its last completed power action."""
        power: dict[str, str] = {}
        for action in sorted(self.actions.values(), key=lambda a: a["_done_at"]):
            if now >= action["_done_at"]:
                power[str(action["resource_id"])] = DROPLET_ACTION_STATUS[action["type"]]
        return power

    def _droplet_bandwidth(self, request: Request, _: re.Match[str]) -> Response:
        """A droplet's bandwidth series (Mbps), one point every BANDWIDTH_STEP_SECONDS in
        [start, end): deterministic per droplet, interface and direction (`bandwidth_mbps`)."""
        query = request.query
        for name in ("host_id", "interface", "direction", "start", "end"):
            if not query.get(name):
                raise BadRequest(400, f"{name} is required")
        if query["interface"] not in ("public", "private"):
            raise BadRequest(400, "interface must be public or private")
        if query["direction"] not in ("inbound", "outbound"):
            raise BadRequest(400, "direction must be inbound or outbound")
        try:
            start, end = int(query["start"]), int(query["end"])
        except ValueError:
            raise BadRequest(400, "start and end are UNIX timestamps") from None
        droplet = self.state.get("droplets", query["host_id"])  # by id: 80,000 droplets
        result = []
        if droplet is not None:
            first = -(-start // BANDWIDTH_STEP_SECONDS) * BANDWIDTH_STEP_SECONDS
            steps = range(first, end, BANDWIDTH_STEP_SECONDS)
            if "_changes" in droplet:  # its status then, point by point
                values = [[t, str(self._bandwidth_at(droplet, t, query))] for t in steps]
            else:
                rate = str(bandwidth_mbps(droplet, query["interface"], query["direction"]))
                values = [[t, rate] for t in steps]
            metric = {
                "host_id": query["host_id"],
                "interface": query["interface"],
                "direction": query["direction"],
            }
            result.append({"metric": metric, "values": values})
        payload = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return _json_response(200, payload)

    def _bandwidth_at(
        self, droplet: Mapping[str, Any], t: int, query: Mapping[str, str]
    ) -> Decimal:
        """The rate at UNIX second `t`: of the droplet as it stood then (`_changes`)."""
        moment = dt.datetime.fromtimestamp(t, dt.UTC)
        return bandwidth_mbps(
            as_of(droplet, self.period, moment), query["interface"], query["direction"]
        )

    def _balance(self, request: Request, _: re.Match[str]) -> Response:
        return _json_response(200, {**self.balance, "generated_at": iso(request.now)})

    def _billing_history(self, request: Request, _: re.Match[str]) -> Response:
        entries = [_served(entry, self.period, "date") for entry in self._billing_extras]
        if self.invoice is not None:
            entries += self.invoice.billing_history_entries()
        issued = [entry for entry in entries if entry.get("date", "") <= iso(request.now)]
        issued.sort(key=lambda entry: entry.get("date", ""), reverse=True)
        return self._paginate(request, "billing_history", issued)

    def _invoice_csv_handler(self, request: Request, match: re.Match[str]) -> Response:
        if not self._invoice_issued(match["uuid"], request.now):
            return _error(404)
        invoice = self.invoice
        name = (
            f"DigitalOcean Invoice {invoice.period:%Y %b} ({invoice.invoice_id}).csv"
            if invoice is not None
            else "DigitalOcean Invoice.csv"
        )
        return Response(
            200,
            self._invoice_csv,
            content_type="text/csv; charset=utf-8",
            headers=[("Content-Disposition", f'attachment; filename="{name}"')],
        )

    def _invoice_items(self, request: Request, match: re.Match[str]) -> Response:
        if self.invoice is None or not self._invoice_issued(match["uuid"], request.now):
            return _error(404)
        invoice = self.invoice
        # Built once per state, not per page: a 50,000-line invoice is 250 pages.
        items = self._cached(
            ("invoice_items", invoice.uuid),
            request.now,
            lambda: [line.item() for line in invoice.lines],
        )
        return self._paginate(request, "invoice_items", items)

    def _invoice_summary(self, request: Request, match: re.Match[str]) -> Response:
        if self.invoice is None or not self._invoice_issued(match["uuid"], request.now):
            return _error(404)
        return _json_response(200, self.invoice.summary(self.account))

    def _billing_insights(self, request: Request, match: re.Match[str]) -> Response:
        """The period's nightly estimates (`Invoice.data_points`) of the days in
        [start_date, end_date] that have ended by the emulator's clock, page-numbered as the
        spec says (`total_items`, `total_pages`, `current_page`; no `links`)."""
        if unquote(match["urn"]) != self.account_urn:
            return _error(404)
        start = _iso_date(match["start"], "start_date")
        end = _iso_date(match["end"], "end_date")
        if end < start:
            raise BadRequest(400, "end_date must not be before start_date")
        if (end - start).days > MAX_INSIGHT_DAYS:
            raise BadRequest(400, f"end_date must be within {MAX_INSIGHT_DAYS} days of start_date")
        page = _positive_int(request.query, "page", 1)
        per_page = min(_positive_int(request.query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        invoice = self.invoice
        points = self._cached(
            ("insights", request.now.date()),
            request.now,
            lambda: (
                []
                if invoice is None
                else invoice.data_points(self.account_urn, before=request.now.date())
            ),
        )
        chosen = [p for p in points if start.isoformat() <= p["start_date"] <= end.isoformat()]
        payload = {
            "data_points": chosen[(page - 1) * per_page : page * per_page],
            "total_items": len(chosen),
            "total_pages": max(1, -(-len(chosen) // per_page)),
            "current_page": page,
        }
        return _json_response(200, payload)

    # -- account views --------------------------------------------------------------------------

    def _alive(self, kind: str, now: dt.datetime) -> list[JSON]:
        """The objects of `kind` that exist at `now`, as DO serves them (cached per state)."""
        return self._cached(kind, now, lambda: self._build_alive(kind, now))

    def _alive_index(self, kind: str, now: dt.datetime) -> dict[str, JSON]:
        id_key = COLLECTIONS[kind]
        return self._cached(
            ("index", kind),
            now,
            lambda: {str(obj[id_key]): obj for obj in self._alive(kind, now)},
        )

    def _build_alive(self, kind: str, now: dt.datetime) -> list[JSON]:
        raws = [
            as_of(obj, self.period, now)
            for obj in self.state.iter_raw(kind)
            if Lifetime.of(obj, self.period, kind).alive_at(now)
        ]
        served = [_served(obj, self.period) for obj in raws]
        if kind == "droplets":
            self._add_droplet_links(served, raws, now)
        elif kind == "reserved_ips":
            droplets = self._alive_index("droplets", now)
            for reserved_ip, raw in zip(served, raws, strict=True):
                reserved_ip["droplet"] = droplets.get(str(raw.get("_droplet_id")))
        return served

    def _add_droplet_links(self, droplets: list[JSON], raws: list[JSON], now: dt.datetime) -> None:
        """backup_ids and snapshot_ids, derived so they always agree with what is listed."""
        snapshot_ids: dict[str, list[Any]] = {}
        for snapshot in self._alive("snapshots", now):
            if snapshot.get("resource_type") == "droplet":
                ids = snapshot_ids.setdefault(str(snapshot.get("resource_id")), [])
                ids.append(_int_if_numeric(snapshot["id"]))
        for droplet, raw in zip(droplets, raws, strict=True):
            droplet["backup_ids"] = [b["id"] for b in self._alive_backups(raw, now)]
            droplet["snapshot_ids"] = snapshot_ids.get(str(droplet["id"]), [])

    def _alive_backups(self, droplet: Mapping[str, Any], now: dt.datetime) -> list[JSON]:
        backups = []
        for backup in droplet.get("_backups", []):
            lifetime = Lifetime.of(backup, self.period, "backup")
            if lifetime.alive_at(now):
                served = _served(backup, self.period)
                served.setdefault("name", f"{droplet['name']} {served.get('created_at', '')[:10]}")
                backups.append(served)
        return backups

    def _build_project_resources(self, project: Mapping[str, Any], now: dt.datetime) -> list[JSON]:
        assignments = [
            as_of(obj, self.period, now)
            for obj in self.state.iter_raw("project_resources")
            if Lifetime.of(obj, self.period, "project_resources").alive_at(now)
        ]
        claimed = {_urn_target(a["urn"]) for a in assignments}
        items = []
        for assignment in assignments:
            if assignment.get("project_id") != project["id"]:
                continue
            tracked, target = self._urn_object(assignment["urn"], now)
            if tracked and target is None:
                continue
            # DO always sends a timestamp; objects without their own (domains) fall back to
            # the project's.
            assigned_at = (
                assignment.get("assigned_at")
                or (target or {}).get("created_at")
                or project["created_at"]
            )
            items.append(
                _resource_item(assignment["urn"], assigned_at, assignment.get("status", "ok"))
            )
        if project.get("is_default"):
            for kind, urn_kind in DEFAULT_PROJECT_KINDS:
                for obj in self._alive(kind, now):
                    urn = f"do:{urn_kind}:{obj[COLLECTIONS[kind]]}"
                    if _urn_target(urn) not in claimed:
                        assigned_at = obj.get("created_at") or project["created_at"]
                        items.append(_resource_item(urn, assigned_at))
        return items

    def _urn_object(self, urn: str, now: dt.datetime) -> tuple[bool, JSON | None]:
        """(tracked, object): tracked when the URN's kind is one the emulator lists, and then
        object is None when nothing with that id exists at `now`."""
        kind, object_id = _urn_target(urn)
        if kind is None:
            return False, None
        return True, self._alive_index(kind, now).get(object_id)

    def _find_project(self, project_id: str, now: dt.datetime) -> JSON | None:
        for project in self._alive("projects", now):
            if project["id"] == project_id or (
                project_id == "default" and project.get("is_default")
            ):
                return project
        return None

    def _new_project(self, body: Mapping[str, Any], now: dt.datetime) -> JSON:
        name = body["name"]
        return {
            "id": str(uuid.uuid5(PROJECT_NAMESPACE, f"{name}:{self.state.version}")),
            "owner_uuid": self.account.get("owner_uuid", ""),
            "owner_id": self.account.get("owner_id", 0),
            "name": name,
            "description": body.get("description") or "",
            "purpose": body["purpose"],
            "environment": body.get("environment") or "",
            "is_default": False,
            "created_at": iso(now),
            "updated_at": iso(now),
        }

    def _invoice_issued(self, invoice_uuid: str, now: dt.datetime) -> bool:
        invoice = self.invoice
        return invoice is not None and invoice.uuid == invoice_uuid and now >= invoice.issued_at

    # -- caching --------------------------------------------------------------------------------

    def _cached(self, key: Any, now: dt.datetime, build: Callable[[], Any]) -> Any:
        """Memoize an account view until the state changes or the clock crosses a lifetime
        boundary; 100 pages of 200 droplets then cost one build, not one per page."""
        with self.state.lock:
            epoch = (self.state.version, bisect.bisect_right(self._lifetime_boundaries(), now))
            cached = self._cache.get(key)
            if cached is not None and cached[0] == epoch:
                return cached[1]
            value = build()
            self._cache[key] = (epoch, value)
            return value

    def _lifetime_boundaries(self) -> list[dt.datetime]:
        version, boundaries = self._boundaries
        if version != self.state.version:
            moments: set[dt.datetime] = set()
            for kind in COLLECTIONS:
                for obj in self.state.iter_raw(kind):
                    moments.update(Lifetime.of(obj, self.period, kind).boundaries)
                    moments.update(c.at for c in changes_of(obj, self.period, kind))
                    for backup in obj.get("_backups", []):
                        moments.update(Lifetime.of(backup, self.period, kind).boundaries)
            boundaries = sorted(moments)
            self._boundaries = (self.state.version, boundaries)
        return boundaries

    # -- pagination -----------------------------------------------------------------------------

    def _paginate(self, request: Request, key: str, items: list[JSON]) -> Response:
        page = _positive_int(request.query, "page", 1)
        per_page = min(_positive_int(request.query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        last = max(1, -(-len(items) // per_page))
        page_items = items[(page - 1) * per_page : page * per_page]
        filters = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}

        def page_url(number: int) -> str:
            params = {"page": str(number), "per_page": str(per_page), **filters}
            return f"{request.origin}{request.path}?{urlencode(params)}"

        pages: dict[str, str] = {}
        if page > 1:
            pages["first"] = page_url(1)
            pages["prev"] = page_url(min(page - 1, last))
        if page < last:
            pages["next"] = page_url(page + 1)
            pages["last"] = page_url(last)
        payload = {
            key: page_items,
            "links": {"pages": pages} if pages else {},
            "meta": {"total": len(items)},
        }
        return _json_response(200, payload)


# -- serving ------------------------------------------------------------------------------------


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client gave up (a timeout test); nothing to report
        logger.exception("DO emulator connection error from %s", client_address)


class _QuietHandler(WSGIRequestHandler):
    # wsgiref sends headers and body in separate writes; with Nagle on, each page then waits
    # for a delayed ACK (~40 ms), which turns a 100-page listing into seconds.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("DO emulator %s " + format, self.address_string(), *args)


def make_server(
    emulator: DigitalOceanEmulator, host: str = "127.0.0.1", port: int = 0
) -> WSGIServer:
    """A threaded HTTP server for the emulator (port 0: any free port)."""
    server = _ThreadingWSGIServer((host, port), _QuietHandler)
    server.set_app(emulator)
    return server


@contextlib.contextmanager
def run_emulator(
    emulator_or_fixture: DigitalOceanEmulator | Mapping[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **emulator_kwargs: Any,
) -> Iterator[DigitalOceanEmulator]:
    """Serve an emulator (or a new one built from a fixture) in a daemon thread.

    Yields the running emulator with `base_url` set; stops the server on exit.
    """
    if isinstance(emulator_or_fixture, DigitalOceanEmulator):
        if emulator_kwargs:
            raise TypeError("pass emulator options to DigitalOceanEmulator, not run_emulator")
        emulator = emulator_or_fixture
    else:
        emulator = DigitalOceanEmulator(emulator_or_fixture, **emulator_kwargs)
    server = make_server(emulator, host, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"do-emulator-{server.server_port}",
        daemon=True,
    )
    thread.start()
    emulator.base_url = f"http://{host}:{server.server_port}"
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        emulator.base_url = None


# -- helpers ------------------------------------------------------------------------------------

BANDWIDTH_STEP_SECONDS = 300


def bandwidth_mbps(droplet: Mapping[str, Any], interface: str, direction: str) -> Decimal:
    """The constant rate the emulator serves for a droplet: 0 for one the fixture has powered
    off; else the fixture's `_public_outbound_mbps` for public outbound traffic where given,
    else (id mod 7 + 1) / 4 Mbps (a tenth of that for the other interface/direction pairs)."""
    if droplet.get("status") != "active":
        return Decimal(0)
    base = Decimal(int(droplet.get("id", 0)) % 7 + 1) / 4
    if (interface, direction) == ("public", "outbound"):
        return Decimal(str(droplet.get("_public_outbound_mbps", base)))
    return base / 10


def _served(obj: Mapping[str, Any], period: dt.date, date_field: str = "created_at") -> JSON:
    """The wire form: metadata keys dropped, the creation date taken from `_lifetime`."""
    served = {key: value for key, value in obj.items() if not key.startswith("_")}
    created_at = Lifetime.of(obj, period, "object").created_at
    if created_at is not None:
        served[date_field] = iso(created_at)
    return served


def _resource_item(urn: str, assigned_at: str, status: str = "ok") -> JSON:
    return {"urn": urn, "assigned_at": assigned_at, "status": status}


def _split_urn(urn: str) -> tuple[str, str]:
    """`do:droplet:123` -> ("droplet", "123")."""
    parts = urn.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 else ("", "")


def _self_link(origin: str, urn: str) -> JSON:
    kind, object_id = _split_urn(urn)
    path = URN_SELF_PATHS.get(kind)
    return {"self": f"{origin}{path}{object_id}"} if path else {}


def _urn_target(urn: str) -> tuple[str | None, str]:
    """(emulator kind, id) for a URN; kind None when the emulator does not list that kind."""
    kind, object_id = _split_urn(urn)
    return TRACKED_URN_KINDS.get(kind), object_id


def _snapshot_image(snapshot: Mapping[str, Any]) -> JSON:
    """A droplet snapshot as `/v2/images` serves it."""
    return {
        "id": _int_if_numeric(snapshot["id"]),
        "name": snapshot.get("name", ""),
        "type": "snapshot",
        "public": False,
        "regions": list(snapshot.get("regions") or []),
        "created_at": snapshot.get("created_at"),
        "min_disk_size": snapshot.get("min_disk_size"),
        "size_gigabytes": snapshot.get("size_gigabytes"),
        "tags": list(snapshot.get("tags") or []),
        "status": "available",
    }


def _is_gpu(droplet: Mapping[str, Any]) -> bool:
    """A GPU droplet, as DO marks one: `gpu_info` on the droplet or its size."""
    size = droplet.get("size")
    return bool(droplet.get("gpu_info") or (isinstance(size, Mapping) and size.get("gpu_info")))


def _int_if_numeric(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(400, f"{name} must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise BadRequest(400, f"{name} must be a positive integer, not {raw!r}")
    return value


def _iso_date(raw: str, name: str) -> dt.date:
    try:
        if _ISO_DATE_RE.fullmatch(raw):
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise BadRequest(400, f"{name} must be a date as YYYY-MM-DD, not {raw!r}")


def _aware(clock: dt.datetime) -> dt.datetime:
    if clock.tzinfo is None:
        raise ValueError("the emulator clock must be timezone-aware (e.g. tzinfo=datetime.UTC)")
    return clock.astimezone(dt.UTC)


def _json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode())


def _error(status: int, message: str | None = None) -> Response:
    error_id = ERROR_IDS.get(status, "error")
    text = message or ERROR_MESSAGES.get(status) or _reason(status)
    return _json_response(status, {"id": error_id, "message": text})


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:  # an injected fault may use any status
        return "Injected Fault"


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 200
    response = _error(status) if fault.body is None else Response(status, fault.body.encode())
    if fault.retry_after is not None:
        response.headers.append(("Retry-After", f"{fault.retry_after:g}"))
    return response


def _rate_limit_headers(served: int, status: int) -> list[tuple[str, str]]:
    """DO's rate-limit headers. An injected 429 says the window resets in a second, so a
    client honouring RateLimit-Reset does not stall a test."""
    now = int(time.time())
    if status == 429:
        return [
            ("ratelimit-limit", str(RATE_LIMIT)),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", str(now + 1)),
        ]
    remaining = RATE_LIMIT - served % RATE_LIMIT
    return [
        ("ratelimit-limit", str(RATE_LIMIT)),
        ("ratelimit-remaining", str(remaining)),
        ("ratelimit-reset", str(now + 60)),
    ]
