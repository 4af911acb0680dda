"""The margin summaries against the lines (issue 22), as a property: after any random sequence
of rollups (first runs and forced regenerations, with usage changing in between), issues,
voids, adjustment notes (partial or whole), DigitalOcean invoice (re-)ingests with varying
line sets and resources moved between deployments, on real PostgreSQL through the real
services,

- the summary tables, the kind and the deployment totals equal a recomputation from the
  lines (`*_rebuild`), and
- `margin_summary` / `by_kind` (reading the summaries) equal `margin_summary_from_lines` /
  `by_kind_from_lines` (aggregating the lines, the selectors as they were), for every period
  touched: the two rollup months and the month the notes are issued in.

Examples share the test's database transaction (Django's durable entry points run inside it as
in every other test): each example adds its own tenants, resources and DigitalOcean invoices,
so earlier examples' rows stay and the comparison covers them too. Bounded to a few examples
of short sequences so it runs well under a minute.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from decimal import Decimal

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.selectors import (
    by_kind,
    by_kind_from_lines,
    margin_page,
    margin_summary,
    margin_summary_from_lines,
)
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.periods import month_start
from billing.models import (
    CloudCostDeploymentTotal,
    CloudCostKindTotal,
    CloudCostSummary,
)
from billing.services import invoice_ingest
from billing.summaries import cost_summary_rebuild
from inventory.models import CloudResource
from inventory.services import resources_attach_to_deployment, resources_detach_from_deployment
from invoicing.credit_notes.services import credit_note_issue, creditable_lines
from invoicing.invoices.lifecycle import invoice_issue, invoice_void
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import (
    RevenueDeploymentTotal,
    RevenueKindTotal,
    RevenueSummary,
    TenantInvoice,
)
from invoicing.summaries import revenue_summary_rebuild
from tests.billing.factories import do_client, invoice_csv, line, serve_invoice
from tests.billing.factories import make_invoice as make_cost_invoice
from tests.inventory.factories import make_resource
from tests.invoicing.factories import ACTOR, APRIL, add_usage, seed_catalog, subscriber

pytestmark = pytest.mark.django_db

MAY = dt.date(2026, 5, 1)
PERIODS = (APRIL, MAY)
TENANTS_PER_EXAMPLE = 3
REFUSABLE = ("issue", "void", "note")
_examples = itertools.count(1)

bounded = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

tenant_index = st.integers(0, TENANTS_PER_EXAMPLE - 1)
period = st.sampled_from(PERIODS)
operation = st.one_of(
    st.tuples(st.just("usage"), tenant_index, period, st.integers(1, 400)),
    st.tuples(st.just("rollup"), period, st.booleans()),
    st.tuples(st.just("issue"), st.integers(0, 20)),
    st.tuples(st.just("void"), st.integers(0, 20)),
    st.tuples(st.just("note"), st.integers(0, 20), st.integers(0, 5), st.integers(0, 100)),
    st.tuples(st.just("move"), st.integers(0, 3 * TENANTS_PER_EXAMPLE - 1), st.integers(-1, 2)),
    st.tuples(
        st.just("ingest"),
        period,
        st.lists(st.integers(0, 3 * TENANTS_PER_EXAMPLE), min_size=0, max_size=8),
        st.integers(1, 9_999),
    ),
)


class World:
    """One example's tenants, their deployments and resources, and its DigitalOcean invoices."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.example = next(_examples)
        self.days = itertools.count()
        self.tenants = [f"prop-{self.example}-{n}" for n in range(TENANTS_PER_EXAMPLE)]
        self.deployments = [subscriber(tenant, addons=("storage_50gb",)) for tenant in self.tenants]
        # Per tenant: a droplet of its deployment, one of the tenant only, one of nobody.
        self.resource_names: list[str] = []
        self.resources: list[int] = []
        for n, deployment in enumerate(self.deployments):
            for role, fields in (
                ("dep", {"deployment": deployment}),
                ("own", {"tenant_id": self.tenants[n]}),
                ("none", {}),
            ):
                name = f"p{self.example}-{n}-{role}"
                resource = make_resource("droplet", name=name, status="active", **fields)
                self.resource_names.append(name)
                self.resources.append(resource.pk)
        self.cost_invoices = {
            month: make_cost_invoice(period=month, issued_at=_utc(_next_month(month)))
            for month in PERIODS
        }

    def invoices(self) -> list[TenantInvoice]:
        return list(TenantInvoice.objects.filter(tenant_id__in=self.tenants).order_by("pk"))

    def pick(self, index: int) -> TenantInvoice | None:
        invoices = self.invoices()
        return invoices[index % len(invoices)] if invoices else None

    def apply(self, op: tuple) -> None:
        """Run one operation through the real service. Only a lifecycle step or a note the
        service refuses (void of an invoice with notes, nothing left to credit, ...) is
        tolerated; a rollup or an ingest that fails fails the test."""
        name, *args = op
        if name in REFUSABLE:
            with contextlib.suppress(*CALLER_ERRORS):
                getattr(self, f"_{name}")(*args)
        else:
            getattr(self, f"_{name}")(*args)

    def _usage(self, tenant: int, month: dt.date, qty: int) -> None:
        """A new usage row (a day of its own: one row per deployment, kind and day), so the
        next forced rollup regenerates the draft with other lines."""
        day = month + dt.timedelta(days=next(self.days) % 28)
        add_usage(self.deployments[tenant], "droplet_hours", 1000 + qty, day=day)

    def _rollup(self, month: dt.date, force: bool) -> None:
        roll_up_period(month, force=force, tenant_ids=self.tenants, actor=ACTOR)

    def _issue(self, index: int) -> None:
        invoice = self.pick(index)
        if invoice is not None and invoice.status == "draft":
            invoice_issue(invoice=invoice, actor=ACTOR)

    def _void(self, index: int) -> None:
        invoice = self.pick(index)
        if invoice is not None:
            invoice_void(invoice=invoice, actor=ACTOR, reason="property test")

    def _note(self, index: int, line_index: int, percent: int) -> None:
        invoice = self.pick(index)
        if invoice is None or invoice.status not in ("issued", "paid"):
            return
        remaining = sorted(creditable_lines(invoice).items())
        if not remaining or percent == 0:
            credit_note_issue(invoice=invoice, reason="whole", actor=ACTOR)
            return
        line_id, (_, left) = remaining[line_index % len(remaining)]
        amount = max(1, left * percent // 100)
        credit_note_issue(
            invoice=invoice,
            reason="partial",
            lines=[{"line_id": line_id, "amount_cents": amount}],
            actor=ACTOR,
        )

    def _move(self, pick: int, tenant: int) -> None:
        """Move a resource to another deployment (or off its own, `tenant` -1) through the
        inventory service: its cost lines follow it, as the line aggregation joins them."""
        resource_id = self.resources[pick]
        current = CloudResource.objects.get(pk=resource_id).deployment_id
        if tenant >= 0:
            resources_attach_to_deployment(
                resource_ids=[resource_id],
                deployment_id=self.deployments[tenant].pk,
                actor=ACTOR,
                reassign=True,
            )
        elif current is not None:
            resources_detach_from_deployment(
                resource_ids=[resource_id], deployment_id=current, actor=ACTOR
            )

    def _ingest(self, month: dt.date, picks: list[int], cents: int) -> None:
        """(Re-)ingest the month's DigitalOcean invoice with these lines: resources by name
        (matched to a deployment, a tenant or nobody), names no resource has (unmatched), and a
        tax line; a re-ingest replaces the invoice's lines and so its summary rows."""
        start, end = _utc(month), _utc(_next_month(month))
        rows = []
        for n, pick in enumerate(picks):
            name = (
                self.resource_names[pick]
                if pick < len(self.resource_names)
                else f"ghost-{self.example}"
            )
            usd = Decimal(cents + 137 * n) / 10_000  # 4 places: exact USD, summed before rounding
            rows.append(line("Droplets", f"{name} (s-1vcpu-1gb)", f"${usd}", start=start, end=end))
        rows.append(
            line("Taxes", "GST (10%)", "$1.00", start=start, end=end, hours="", project_name="")
        )
        invoice = self.cost_invoices[month]
        serve_invoice(
            self.rsps, invoice.invoice_uuid, invoice_csv(rows), billing_period=f"{month:%Y-%m}"
        )
        invoice_ingest(invoice=invoice, client=do_client(), push_to_finance=False)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _revenue_rows() -> list[tuple]:
    return sorted(
        RevenueSummary.objects.values_list(
            "period",
            "tenant_id",
            "currency",
            "deployment_id",
            "kind",
            "invoiced_cents",
            "invoiced_lines",
            "credited_cents",
            "credited_lines",
        ),
        key=repr,
    )


def _kind_rows() -> list[tuple]:
    """The kind totals by_kind reads: revenue's per (period, currency, kind, shard), COGS's per
    (invoice, kind)."""
    return sorted(
        RevenueKindTotal.objects.values_list(
            "period",
            "currency",
            "kind",
            "shard",
            "invoiced_cents",
            "invoiced_lines",
            "credited_cents",
            "credited_lines",
        ),
        key=repr,
    ) + sorted(CloudCostKindTotal.objects.values_list("invoice_id", "kind", "amount", "lines"))


def _deployment_rows() -> list[tuple]:
    """The deployment totals margin_summary reads."""
    return sorted(
        RevenueDeploymentTotal.objects.values_list(
            "period", "tenant_id", "currency", "deployment_id", "invoiced_cents", "credited_cents"
        ),
        key=repr,
    ) + sorted(
        CloudCostDeploymentTotal.objects.values_list(
            "invoice_id", "tenant_id", "deployment_id", "amount", "lines"
        ),
        key=repr,
    )


def _cost_rows() -> list[tuple]:
    return sorted(
        CloudCostSummary.objects.values_list(
            "invoice_id", "kind", "match_status", "deployment_id", "tenant_id", "amount", "lines"
        ),
        key=repr,
    )


@bounded
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_summaries_follow_the_lines_through_any_sequence_of_writes(db, operations):
    seed_catalog()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        world = World(rsps)
        for op in operations:
            world.apply(op)

    maintained = (_revenue_rows(), _cost_rows(), _kind_rows(), _deployment_rows())
    revenue_summary_rebuild()
    cost_summary_rebuild()
    assert (_revenue_rows(), _cost_rows(), _kind_rows(), _deployment_rows()) == maintained

    for month in (*PERIODS, month_start(utc_today())):
        full = margin_summary(month)
        assert full == margin_summary_from_lines(month)
        assert by_kind(month) == by_kind_from_lines(month)
        for size in (1, 2):
            assert_pages_make_the_report(month, full, size)


def assert_pages_make_the_report(month, full: dict, size: int) -> int:
    """Walking margin_page `size` tenants at a time: every page carries the whole period's
    overall figures, and the pages' tenants and deployments, concatenated, are the report's.
    Returns the number of pages."""
    tenants, deployments, after, pages = [], [], None, 0
    whole_period = ("period", "period_end", "cogs_currency", "cogs_source", "revenue_currencies")
    while True:
        page = margin_page(month, after=after, limit=size)
        pages += 1
        for key in (*whole_period, "overall", "unattributed"):
            assert page[key] == full[key], key
        assert all(conversion in full["fx"] for conversion in page["fx"])
        assert len(page["tenants"]) <= size
        tenants += page["tenants"]
        deployments += page["deployments"]
        after = page["next_after"]
        if after is None:
            break
        assert after == page["tenants"][-1]["tenant_id"]
    assert (tenants, deployments) == (full["tenants"], full["deployments"])
    return pages


def test_the_property_sees_what_it_compares():
    """The property compares something: a rollup, a note and an ingest make summary rows (a
    sequence that wrote nothing would make the comparison above trivially true)."""
    seed_catalog()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        world = World(rsps)
        world.apply(("usage", 0, APRIL, 50))
        world.apply(("rollup", APRIL, False))
        world.apply(("issue", 0))
        world.apply(("note", 0, 0, 50))
        world.apply(("ingest", APRIL, [0, 1, 2, 9], 4321))
    summary = margin_summary(APRIL)
    assert summary == margin_summary_from_lines(APRIL)
    assert assert_pages_make_the_report(APRIL, summary, 1) == len(summary["tenants"]) >= 3
    assert {row["tenant_id"] for row in summary["tenants"]} >= set(world.tenants)
    assert summary["unattributed"]["lines"] == 2  # the nobody's droplet and the ghost
    this_month = margin_summary(month_start(utc_today()))
    assert this_month == margin_summary_from_lines(month_start(utc_today()))
    assert any(row["revenue_cents"] < 0 for row in this_month["tenants"])  # the note


def test_a_resource_moved_after_the_ingest_takes_its_cogs_along():
    """The line aggregation attributes a cost line through the resource's current deployment;
    the summaries follow a move in the inventory service's transaction (inventory's signal)."""
    seed_catalog()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        world = World(rsps)
        world.apply(("ingest", APRIL, [0], 5000))  # tenant 0's deployment's droplet
        before = {
            row["deployment_id"]: row["cogs_usd_cents"]
            for row in margin_summary(APRIL)["deployments"]
        }
        assert before == {world.deployments[0].pk: 50}
        world.apply(("move", 0, 1))
    after = margin_summary(APRIL)
    assert after == margin_summary_from_lines(APRIL)
    assert {row["deployment_id"]: row["cogs_usd_cents"] for row in after["deployments"]} == {
        world.deployments[1].pk: 50
    }
