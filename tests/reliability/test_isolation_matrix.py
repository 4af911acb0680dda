"""The isolation matrix: every API route x every kind of caller x every method its view serves.

Routes are discovered from the URL configuration, not listed by hand: a route (or a method on
it) with no declared expectation fails `test_every_api_route_has_declared_expectations`, so a new
endpoint cannot ship without saying who may call it. For each declared (route, method) the
matrix asserts:

- the status each caller gets (anonymous, tenant A, tenant B, llm_gateway, platform_admin);
- tenant B never sees tenant A's data: no response of B's (nor the anonymous caller's or the
  gateway's) contains any of A's markers (tenant id, deployment slug, resource and project names,
  invoice number, LLM request id);
- an object route answers B on A's object exactly as on an id that does not exist (404, the same
  body), and an admin-only route answers B's request on A's object with the same 403 as on a
  missing one, so existence never leaks;
- list and export routes show A's markers to A and to the admin (the data is there) but not to B;
- a refused request writes nothing (row counts and last update of every table unchanged).

Writes send a minimal VALID body, so the outcome checked is the authorization, not validation;
every role that may succeed acts on its own fresh object of tenant A's, so the roles do not
interfere.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import api_route_not_found
from catalog.models import ResourcePrice
from catalog.services import resource_price_create
from deployments.models import Deployment
from deployments.services import subscription_change_plan, subscription_create
from tests.conftest import TENANT_A, TENANT_B, make_api_client
from tests.reliability.world import World, build_world, fresh, llm_event

ROLES = ("anonymous", "tenant_a", "tenant_b", "llm_gateway", "platform_admin")
# Refused callers first, so that what they must not change is still as A left it.
ORDER = ("anonymous", "llm_gateway", "tenant_b", "tenant_a", "platform_admin")
HANDLER_METHODS = ("get", "post", "put", "patch", "delete", "options")
MISSING_ID = 987654321

# Statuses in ROLES order: anonymous, tenant A, tenant B, llm_gateway, platform_admin.
PUBLIC = (200, 200, 200, 200, 200)
ANY_CALLER = (401, 200, 200, 403, 200)
OWN_OBJECT = (401, 200, 404, 403, 200)
ADMIN_ONLY = (401, 403, 403, 403, 200)
CREATED_BY_ANY_CALLER = (401, 201, 201, 403, 201)


class Scope:
    PUBLIC = "public"  # no tenant data at all (health, schema, docs)
    SHARED = "shared"  # the same for every caller (catalog, quote, whoami)
    OBJECT = "object"  # one tenant-owned object: B gets what a missing id gets (404)
    LIST = "list"  # tenant-owned rows: each caller sees its own
    ADMIN = "admin"  # role-gated for every object: the same 403 whatever the id


@dataclass(frozen=True)
class Expect:
    statuses: tuple[int, int, int, int, int]
    scope: str
    # URL kwargs for a role (fresh objects for roles whose write succeeds).
    kwargs: Callable[[World, str], dict[str, Any]] = lambda world, role: {}
    missing: dict[str, Any] = field(default_factory=dict)  # kwargs naming nothing
    body: Callable[[World, str, dict[str, Any]], Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    check: Callable[[World, str, Any], None] | None = None  # extra assertion on a 2xx


def role_of(role: str) -> APIClient:
    if role == "anonymous":
        return APIClient()
    return {
        "tenant_a": lambda: make_api_client(TENANT_A, ["tenant_user"], sub="alice"),
        "tenant_b": lambda: make_api_client(TENANT_B, ["tenant_user"], sub="bob"),
        "llm_gateway": lambda: make_api_client("platform-admin", ["llm_gateway"], sub="gw"),
        "platform_admin": lambda: make_api_client("platform-admin", ["platform_admin"], sub="ops"),
    }[role]()


def succeeds(expect: Expect, role: str) -> bool:
    return 200 <= expect.statuses[ROLES.index(role)] < 300


# -- URL kwargs and bodies -------------------------------------------------------------------


def a_deployment(world: World, role: str) -> dict:
    return {"pk": world.deployment.pk}


def fresh_a_deployment(world: World, role: str) -> dict:
    return {"pk": world.fresh_deployment().pk}


def a_resource(world: World, role: str) -> dict:
    return {"pk": world.droplet.pk}


def a_invoice(world: World, role: str) -> dict:
    return {"pk": world.invoice.pk}


def a_credit_note(world: World, role: str) -> dict:
    return {"pk": world.credit_note.pk}


def plan_code(world: World, role: str) -> dict:
    return {"code": "studio"}


def active_version(world: World, role: str) -> dict:
    return {"version_id": world.active_version.pk}


def draft_version(world: World, role: str) -> dict:
    return {"version_id": world.draft_version.pk}


def pending_price(world: World, role: str) -> dict:
    """A resource price starting after today (made once, then found again for every role)."""
    starts = utc_today() + dt.timedelta(days=60)
    price = ResourcePrice.objects.filter(effective_from__gt=utc_today()).first()
    if price is None:
        price = resource_price_create(
            resource_kind="load_balancer_hours",
            price_cents=3,
            currency="AUD",
            effective_from=starts,
            supersede=True,
        )
    return {"price_id": price.pk}


def a_drift(world: World, role: str) -> dict:
    return {"drift_id": world.drift.pk}


def a_provisioned(world: World, role: str) -> dict:
    return {"resource_id": world.droplet.pk}


def a_cost_invoice(world: World, role: str) -> dict:
    return {"invoice_uuid": world.cost_invoice.invoice_uuid}


def a_webhook(world: World, role: str) -> dict:
    return {"pk": world.webhook.pk}


def fresh_a_webhook(world: World, role: str) -> dict:
    return {"pk": world.fresh_webhook().pk}


def webhook_body(world, role, kwargs) -> dict:
    body = {"url": "https://hooks.example.com/in", "events": ["invoice.paid"]}
    return {**body, "tenant_id": TENANT_A} if role == "platform_admin" else body


def webhook_created_in_own_tenant(world: World, role: str, body: Any) -> None:
    assert body["secret"].startswith("whsec_")  # shown once, at creation
    expected = {"tenant_a": TENANT_A, "tenant_b": TENANT_B, "platform_admin": TENANT_A}[role]
    assert body["tenant_id"] == expected


def items_body(world, role, kwargs) -> dict:
    return {
        "items": [
            {"resource_kind": "droplet_hours", "included_qty": "1488", "overage_price_cents": 1}
        ]
    }


def deployment_body(world, role, kwargs) -> dict:
    # Everyone asks for tenant A's tenant: only the admin may create there.
    return {
        "slug": fresh(f"made-by-{role.replace('_', '-')}"),
        "display_name": "New",
        "tenant_id": TENANT_A,
    }


def created_in_own_tenant(world: World, role: str, body: Any) -> None:
    expected = {"tenant_a": TENANT_A, "tenant_b": TENANT_B, "platform_admin": TENANT_A}[role]
    assert body["tenant_id"] == expected
    assert Deployment.objects.get(pk=body["id"]).tenant_id == expected


def llm_body(world, role, kwargs) -> dict:
    event = llm_event(world.deployment, fresh("a-llm-probe"))
    return {
        "gateway_request_id": event.gateway_request_id,
        "deployment_id": event.deployment_id,
        "tenant_id": event.tenant_id,
        "model": event.model,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "charge": str(event.charge),
        "currency": event.currency,
        "occurred_at": event.occurred_at.isoformat(),
    }


def fresh_draft_invoice(world: World, role: str) -> dict:
    return {"pk": world.fresh_draft_invoice().pk}


def fresh_issued_invoice(world: World, role: str) -> dict:
    return {"pk": world.fresh_issued_invoice().pk}


def fresh_a_resource_attach(world, role, kwargs) -> dict:
    return {"resource_ids": [world.fresh_resource().pk]}


def is_paused(world: World, role: str, body: Any) -> None:
    assert body["state"] == "paused"


def is_subscribed(world: World, role: str, body: Any) -> None:
    assert body["subscription"]["plan_code"] == "starter"


def fresh_a_subscribed(world: World, role: str) -> dict:
    return {"pk": world.fresh_subscribed_deployment().pk}


def fresh_a_scheduled_change(world: World, role: str) -> dict:
    deployment = world.fresh_subscribed_deployment()
    subscription_change_plan(
        subscription=deployment.subscription,
        plan_code="studio",
        effective="period_end",
        actor="matrix",
    )
    return {"pk": deployment.pk}


def fresh_a_trial(world: World, role: str) -> dict:
    deployment = world.fresh_deployment()
    subscription_create(deployment=deployment, plan_code="studio", trial_days=14, actor="matrix")
    return {"pk": deployment.pk}


def is_on_studio(world: World, role: str, body: Any) -> None:
    assert body["subscription"]["plan_code"] == "studio"


MISSING_PK = {"pk": MISSING_ID}

EXPECTATIONS: dict[tuple[str, str], Expect] = {
    # -- platform ------------------------------------------------------------------------------
    ("health", "GET"): Expect(PUBLIC, Scope.PUBLIC),
    ("health", "OPTIONS"): Expect(PUBLIC, Scope.PUBLIC),
    ("schema", "GET"): Expect(PUBLIC, Scope.PUBLIC),
    ("schema", "OPTIONS"): Expect(PUBLIC, Scope.PUBLIC),
    ("api-docs", "GET"): Expect(PUBLIC, Scope.PUBLIC),
    ("api-redoc", "GET"): Expect(PUBLIC, Scope.PUBLIC),
    ("whoami", "GET"): Expect(ANY_CALLER, Scope.SHARED),
    ("whoami", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    # -- inventory -----------------------------------------------------------------------------
    ("inventory:resource-list", "GET"): Expect(ANY_CALLER, Scope.LIST),
    ("inventory:resource-list", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("inventory:resource-detail", "GET"): Expect(OWN_OBJECT, Scope.OBJECT, a_resource, MISSING_PK),
    ("inventory:resource-detail", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_resource, MISSING_PK
    ),
    # -- billing (COGS): platform_admin only -----------------------------------------------------
    ("billing:balance", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("billing:balance", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("billing:cost-lines", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN, query={"period": "2026-04-01"}),
    ("billing:cost-lines", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("billing:invoice-list", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("billing:invoice-list", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("billing:invoice-detail", "GET"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        a_cost_invoice,
        {"invoice_uuid": "00000000-0000-4000-8000-999999999999"},
    ),
    ("billing:invoice-detail", "OPTIONS"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        a_cost_invoice,
        {"invoice_uuid": "00000000-0000-4000-8000-999999999999"},
    ),
    # -- catalog: read by any API caller, written by platform_admin ------------------------------
    ("catalog:plans", "GET"): Expect(ANY_CALLER, Scope.SHARED),
    ("catalog:plans", "POST"): Expect(
        (401, 403, 403, 403, 201),
        Scope.ADMIN,
        body=lambda w, r, k: {"code": fresh("plan"), "name": "A plan"},
    ),
    ("catalog:plans", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("catalog:plan-detail", "GET"): Expect(
        ANY_CALLER, Scope.SHARED, plan_code, {"code": "no-such-plan"}
    ),
    ("catalog:plan-detail", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED, plan_code),
    ("catalog:plan-versions", "POST"): Expect(
        (401, 403, 403, 403, 201),
        Scope.ADMIN,
        plan_code,
        {"code": "no-such-plan"},
        body=lambda w, r, k: {"base_price_cents": 6000, "currency": "AUD", **items_body(w, r, k)},
    ),
    ("catalog:plan-versions", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, plan_code, {"code": "no-such-plan"}
    ),
    ("catalog:version-detail", "GET"): Expect(
        ANY_CALLER, Scope.SHARED, active_version, {"version_id": MISSING_ID}
    ),
    ("catalog:version-detail", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED, active_version),
    ("catalog:version-items", "PUT"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}, body=items_body
    ),
    ("catalog:version-items", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}
    ),
    ("catalog:version-publish", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}
    ),
    ("catalog:version-publish", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}
    ),
    ("catalog:addons", "GET"): Expect(ANY_CALLER, Scope.SHARED),
    ("catalog:addons", "POST"): Expect(
        (401, 403, 403, 403, 201),
        Scope.ADMIN,
        body=lambda w, r, k: {
            "code": fresh("addon"),
            "name": "More storage",
            "resource_kind": "spaces_gb_month",
            "qty": "10",
            "price_cents": 100,
            "currency": "AUD",
        },
    ),
    ("catalog:addons", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    # -- deployments ---------------------------------------------------------------------------
    ("deployments:deployments", "GET"): Expect(ANY_CALLER, Scope.LIST),
    ("deployments:deployments", "POST"): Expect(
        CREATED_BY_ANY_CALLER, Scope.SHARED, body=deployment_body, check=created_in_own_tenant
    ),
    ("deployments:deployments", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("deployments:deployment-detail", "GET"): Expect(
        OWN_OBJECT, Scope.OBJECT, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-detail", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-transition", "POST"): Expect(
        OWN_OBJECT,
        Scope.OBJECT,
        fresh_a_deployment,
        MISSING_PK,
        body=lambda w, r, k: {"to_state": "paused", "reason": "holiday"},
        check=is_paused,
    ),
    ("deployments:deployment-transition", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-subscribe", "POST"): Expect(
        (401, 201, 404, 403, 201),
        Scope.OBJECT,
        fresh_a_deployment,
        MISSING_PK,
        body=lambda w, r, k: {"plan_code": "starter", "addons": []},
        check=is_subscribed,
    ),
    ("deployments:deployment-subscribe", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-resources", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, fresh_a_deployment, MISSING_PK, body=fresh_a_resource_attach
    ),
    ("deployments:deployment-resources", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-change-plan-cancel", "POST"): Expect(
        OWN_OBJECT, Scope.OBJECT, fresh_a_scheduled_change, MISSING_PK, body=lambda w, r, k: {}
    ),
    ("deployments:deployment-change-plan-cancel", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    ("deployments:deployment-extend-trial", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, fresh_a_trial, MISSING_PK, body=lambda w, r, k: {"days": 3}
    ),
    ("deployments:deployment-extend-trial", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_deployment, MISSING_PK
    ),
    ("invoicing:deployment-change-plan", "POST"): Expect(
        OWN_OBJECT,
        Scope.OBJECT,
        fresh_a_subscribed,
        MISSING_PK,
        body=lambda w, r, k: {"plan_code": "studio", "addons": []},
        check=is_on_studio,
    ),
    ("invoicing:deployment-change-plan", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    ("invoicing:deployment-change-plan-preview", "POST"): Expect(
        OWN_OBJECT,
        Scope.OBJECT,
        fresh_a_subscribed,
        MISSING_PK,
        body=lambda w, r, k: {"plan_code": "studio", "addons": []},
    ),
    ("invoicing:version-migrate", "POST"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        draft_version,
        {"version_id": MISSING_ID},
        body=lambda w, r, k: {"to_version": w.active_version.pk, "preview": True},
    ),
    ("invoicing:version-migrate", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}
    ),
    ("invoicing:deployment-change-plan-preview", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_deployment, MISSING_PK
    ),
    # -- webhooks and dunning --------------------------------------------------------------------
    ("webhooks:webhooks", "GET"): Expect(ANY_CALLER, Scope.LIST),
    ("webhooks:webhooks", "POST"): Expect(
        CREATED_BY_ANY_CALLER, Scope.SHARED, body=webhook_body, check=webhook_created_in_own_tenant
    ),
    ("webhooks:webhooks", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("webhooks:webhook-detail", "GET"): Expect(OWN_OBJECT, Scope.OBJECT, a_webhook, MISSING_PK),
    ("webhooks:webhook-detail", "PATCH"): Expect(
        OWN_OBJECT,
        Scope.OBJECT,
        fresh_a_webhook,
        MISSING_PK,
        body=lambda w, r, k: {"events": ["invoice.paid", "invoice.voided"]},
    ),
    ("webhooks:webhook-detail", "DELETE"): Expect(
        (401, 204, 404, 403, 204), Scope.OBJECT, fresh_a_webhook, MISSING_PK
    ),
    ("webhooks:webhook-detail", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED, a_webhook, MISSING_PK),
    ("dunning:receivables", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("dunning:receivables", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    # -- customers: each tenant its own billing profile; the admin names the tenant ------------
    ("customers:billing-profile", "GET"): Expect(
        ANY_CALLER, Scope.LIST, query={"tenant_id": TENANT_A}
    ),
    ("customers:billing-profile", "PUT"): Expect(
        ANY_CALLER,
        Scope.SHARED,
        query={"tenant_id": TENANT_A},
        body=lambda w, r, k: {"legal_name": f"Written by {r}", "abn": "51 824 753 556"},
    ),
    ("customers:billing-profile", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    # -- invoicing -----------------------------------------------------------------------------
    ("invoicing:llm-usage", "POST"): Expect((401, 403, 403, 201, 201), Scope.ADMIN, body=llm_body),
    ("invoicing:llm-usage", "OPTIONS"): Expect((401, 403, 403, 200, 200), Scope.ADMIN),
    ("invoicing:quote", "POST"): Expect(
        ANY_CALLER,
        Scope.SHARED,
        body=lambda w, r, k: {"plan_code": "studio", "projected_usage": {"droplet_hours": 2000}},
    ),
    ("invoicing:quote", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("invoicing:invoices", "GET"): Expect(ANY_CALLER, Scope.LIST),
    ("invoicing:invoices", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("invoicing:invoice-export", "GET"): Expect(
        ANY_CALLER, Scope.LIST, query={"format": "csv", "lines": "1"}
    ),
    ("invoicing:invoice-export", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("invoicing:invoice-detail", "GET"): Expect(OWN_OBJECT, Scope.OBJECT, a_invoice, MISSING_PK),
    ("invoicing:invoice-detail", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_invoice, MISSING_PK
    ),
    ("invoicing:invoice-issue", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, fresh_draft_invoice, MISSING_PK
    ),
    ("invoicing:invoice-issue", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN, a_invoice, MISSING_PK),
    ("invoicing:invoice-mark-paid", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, fresh_issued_invoice, MISSING_PK, body=lambda w, r, k: {}
    ),
    ("invoicing:invoice-mark-paid", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_invoice, MISSING_PK
    ),
    ("invoicing:invoice-void", "POST"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        fresh_issued_invoice,
        MISSING_PK,
        body=lambda w, r, k: {"reason": "duplicate"},
    ),
    ("invoicing:invoice-void", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN, a_invoice, MISSING_PK),
    ("invoicing:invoice-document", "GET"): Expect(OWN_OBJECT, Scope.OBJECT, a_invoice, MISSING_PK),
    ("invoicing:invoice-document", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_invoice, MISSING_PK
    ),
    ("invoicing:invoice-pdf", "GET"): Expect(OWN_OBJECT, Scope.OBJECT, a_invoice, MISSING_PK),
    ("invoicing:invoice-pdf", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED, a_invoice, MISSING_PK),
    ("invoicing:invoice-credit-notes", "POST"): Expect(
        (401, 403, 403, 403, 201),
        Scope.ADMIN,
        fresh_issued_invoice,
        MISSING_PK,
        body=lambda w, r, k: {"reason": "credited in full"},
    ),
    ("invoicing:invoice-credit-notes", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_invoice, MISSING_PK
    ),
    ("invoicing:credit-notes", "GET"): Expect(ANY_CALLER, Scope.LIST),
    ("invoicing:credit-notes", "OPTIONS"): Expect(ANY_CALLER, Scope.SHARED),
    ("invoicing:credit-note-detail", "GET"): Expect(
        OWN_OBJECT, Scope.OBJECT, a_credit_note, MISSING_PK
    ),
    ("invoicing:credit-note-detail", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_credit_note, MISSING_PK
    ),
    ("invoicing:credit-note-pdf", "GET"): Expect(
        OWN_OBJECT, Scope.OBJECT, a_credit_note, MISSING_PK
    ),
    ("invoicing:credit-note-pdf", "OPTIONS"): Expect(
        ANY_CALLER, Scope.SHARED, a_credit_note, MISSING_PK
    ),
    # -- analytics: platform_admin only ----------------------------------------------------------
    ("analytics:margin", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN, query={"period": "2026-04"}),
    ("analytics:margin", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("analytics:by-kind", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN, query={"period": "2026-04"}),
    ("analytics:by-kind", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("analytics:accrual", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("analytics:accrual", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("analytics:pricing", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN, query={"period": "2026-04"}),
    ("analytics:pricing", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    # Re-rating a draft writes nothing; a tenant's token gets the same 403 whatever the id.
    ("analytics:version-simulate", "POST"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        draft_version,
        {"version_id": MISSING_ID},
        body=lambda w, r, k: {"period": "2026-04"},
    ),
    ("analytics:version-simulate", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, draft_version, {"version_id": MISSING_ID}
    ),
    ("analytics:resource-price-simulate", "POST"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        pending_price,
        {"price_id": MISSING_ID},
        body=lambda w, r, k: {"period": "2026-04"},
    ),
    ("analytics:resource-price-simulate", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, pending_price, {"price_id": MISSING_ID}
    ),
    # -- drift: platform_admin only --------------------------------------------------------------
    ("drift:drift-list", "GET"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("drift:drift-list", "OPTIONS"): Expect(ADMIN_ONLY, Scope.ADMIN),
    ("drift:drift-accept", "POST"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_drift, {"drift_id": MISSING_ID}
    ),
    ("drift:drift-accept", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_drift, {"drift_id": MISSING_ID}
    ),
    ("drift:resource-provisioned", "GET"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_provisioned, {"resource_id": MISSING_ID}
    ),
    ("drift:resource-provisioned", "POST"): Expect(
        ADMIN_ONLY,
        Scope.ADMIN,
        a_provisioned,
        {"resource_id": MISSING_ID},
        body=lambda w, r, k: {"spec": {"size_slug": "s-2vcpu-4gb", "region": "syd1"}},
    ),
    ("drift:resource-provisioned", "OPTIONS"): Expect(
        ADMIN_ONLY, Scope.ADMIN, a_provisioned, {"resource_id": MISSING_ID}
    ),
}


# -- discovering the routes ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    methods: tuple[str, ...]


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name, entry.callback


def api_routes() -> list[Route]:
    """Every route under /api/ with the HTTP methods its view has a handler for."""
    routes = []
    for pattern, name, callback in _walk(get_resolver().url_patterns):
        if callback is api_route_not_found:
            continue  # the catch-all 404 of no route: tests/test_api_not_found.py walks it
        if not pattern.startswith("api/"):
            continue
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        assert view_class is not None, f"{pattern} is not a class-based view"
        assert name, f"{pattern} has no route name: name it so the matrix can declare it"
        allowed = getattr(callback, "view_initkwargs", {}).get(
            "http_method_names", view_class.http_method_names
        )
        methods = tuple(
            m.upper() for m in HANDLER_METHODS if m in allowed and hasattr(view_class, m)
        )
        routes.append(Route(name, pattern, methods))
    return routes


def declared_cells() -> list[tuple[str, str]]:
    return [(route.name, method) for route in api_routes() for method in route.methods]


def test_every_api_route_has_declared_expectations():
    discovered = set(declared_cells())
    undeclared = sorted(discovered - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - discovered)
    assert not undeclared, (
        f"routes/methods without a declared isolation expectation: {undeclared}; add them to "
        "EXPECTATIONS in tests/reliability/test_isolation_matrix.py"
    )
    assert not stale, f"expectations for routes/methods that no longer exist: {stale}"
    routes = api_routes()
    print(
        f"isolation matrix: {len(routes)} routes, {len(discovered)} route-methods x "
        f"{len(ROLES)} roles = {len(discovered) * len(ROLES)} requests"
    )


# -- the matrix --------------------------------------------------------------------------------


def _fingerprint_sql() -> str:
    parts = []
    for app_label in settings.LOCAL_APPS:
        for model in apps.get_app_config(app_label).get_models():
            if not model._meta.managed or model._meta.proxy:
                continue
            columns = {field.column for field in model._meta.concrete_fields}
            latest = "CAST(max(updated_at) AS TEXT)" if "updated_at" in columns else "NULL"
            table = model._meta.db_table
            parts.append(f"SELECT '{table}', count(*), {latest} FROM \"{table}\"")
    return " UNION ALL ".join(parts)


def fingerprint() -> dict[str, tuple[int, Any]]:
    """Row count and latest update of every table of ours: a refused request changes neither."""
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql())
        return {table: (count, latest) for table, count, latest in cursor.fetchall()}


def body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def call(role: str, method: str, path: str, query: dict, body: Any):
    client = role_of(role)
    if query:
        path = f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
    handler = getattr(client, method.lower())
    if body is None:
        return handler(path)
    return handler(path, data=json.dumps(body, default=str), content_type="application/json")


def leaked(text: str, markers: tuple[str, ...]) -> list[str]:
    return [marker for marker in markers if marker in text]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method"),
    [pytest.param(*cell, id=f"{cell[1]} {cell[0]}") for cell in declared_cells()],
)
def test_isolation(name, method):
    expect = EXPECTATIONS.get((name, method))
    assert expect is not None, f"{method} {name} has no declared expectation"
    world = build_world()
    texts: dict[str, str] = {}
    used: dict[str, dict] = {}
    for role in ORDER:
        kwargs = used[role] = expect.kwargs(world, role)
        body = expect.body(world, role, kwargs) if expect.body else None
        before = fingerprint()
        response = call(role, method, reverse(name, kwargs=kwargs), expect.query, body)
        text = texts[role] = body_text(response)
        wanted = expect.statuses[ROLES.index(role)]
        assert response.status_code == wanted, (
            f"{role} {method} {name}: expected {wanted}, got {response.status_code}: {text[:300]}"
        )
        if response.status_code >= 400:
            assert fingerprint() == before, f"{role}'s refused {method} {name} wrote something"
            if response["Content-Type"].startswith("application/json"):
                assert set(json.loads(text)["error"]) >= {"code", "message", "fields"}
        if role not in ("tenant_a", "platform_admin"):
            assert not leaked(text, world.markers), (
                f"{role} {method} {name} sees tenant A's data: {leaked(text, world.markers)}"
            )
        if expect.check and 200 <= response.status_code < 300:
            expect.check(world, role, json.loads(text))

    if expect.scope == Scope.LIST:
        assert leaked(texts["tenant_a"], world.markers), "A's list shows none of A's rows"
        assert leaked(texts["platform_admin"], world.markers), "the admin's list misses A's rows"
    if expect.scope in (Scope.OBJECT, Scope.ADMIN) and expect.missing:
        # B on A's object and B on nothing at all must be indistinguishable.
        body = expect.body(world, "tenant_b", expect.missing) if expect.body else None
        response = call(
            "tenant_b", method, reverse(name, kwargs=expect.missing), expect.query, body
        )
        on_missing = body_text(response)
        own_id = str(next(iter(used["tenant_b"].values())))
        missing_id = str(next(iter(expect.missing.values())))
        assert response.status_code == expect.statuses[ROLES.index("tenant_b")]
        assert on_missing.replace(missing_id, "<id>") == texts["tenant_b"].replace(own_id, "<id>")


@pytest.mark.django_db
@pytest.mark.parametrize("route", api_routes(), ids=lambda route: route.name)
def test_methods_a_route_does_not_serve_are_405_never_500(route):
    """Every other method, asked by a caller allowed on the route: 405, in the envelope."""
    kwargs = {
        name: MISSING_ID if converter in ("int", "path") else "x"
        for name, converter in _converters(route.pattern)
    }
    path = reverse(route.name, kwargs=kwargs)
    for method in HANDLER_METHODS:
        if method.upper() in route.methods:
            continue
        response = call("platform_admin", method.upper(), path, {}, None)
        assert response.status_code == 405, f"{method.upper()} {path}: {response.status_code}"
        if response["Content-Type"].startswith("application/json"):
            assert response.json()["error"]["code"] == "method_not_allowed"


def _converters(pattern: str) -> list[tuple[str, str]]:
    return [(name, converter) for converter, name in re.findall(r"<(\w+):(\w+)>", pattern)]
