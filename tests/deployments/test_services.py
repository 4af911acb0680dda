"""Deployment, subscription and resource-attribution writes (SPEC §9)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import Conflict, Forbidden, InvalidStateChange
from arcadia_cloud.validation import FieldError
from catalog.models import Addon, PlanVersion
from catalog.selectors import active_version, addon_terms, plan_terms
from catalog.services import (
    addon_create,
    addon_deactivate,
    addon_update,
    plan_create,
    plan_version_create,
    plan_version_publish,
)
from deployments.models import DeploymentEvent, Subscription
from deployments.selectors import (
    subscriptions_active_between,
)
from deployments.services import (
    deployment_attach_resources,
    deployment_create,
    deployment_detach_resources,
    deployment_transition,
    subscription_attach_addon,
    subscription_change_plan_version,
    subscription_create,
)
from deployments.state_machine import TENANT_TRANSITIONS, TRANSITIONS
from inventory.models import CloudResource, CloudResourceEvent
from tests.catalog.concurrency import run_concurrently
from tests.catalog.factories import item
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import ACTOR, force_state, make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

ALL_EDGES = sorted(
    (source, target) for source, targets in TRANSITIONS.items() for target in targets
)
OPERATOR_ONLY_EDGES = sorted(set(ALL_EDGES) - TENANT_TRANSITIONS)


def fields_of(exc_info) -> list[str]:
    return list(exc_info.value.fields)


class TestDeploymentCreate:
    def test_starts_active_with_its_first_event(self):
        deployment = make_deployment(slug="shop", llm_mode="plan", region="syd1")
        assert (deployment.state, deployment.llm_mode, deployment.region) == (
            "active",
            "plan",
            "syd1",
        )
        event = deployment.events.get()
        assert (event.from_state, event.to_state, event.actor) == ("", "active", ACTOR)

    def test_a_duplicate_slug_for_the_tenant_names_slug(self):
        make_deployment(slug="shop")
        with pytest.raises(FieldError) as exc_info:
            make_deployment(slug="shop")
        assert fields_of(exc_info) == ["slug"]
        assert make_deployment(slug="shop", tenant_id=TENANT_B).tenant_id == TENANT_B

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"slug": "not a slug"}, "slug"),
            ({"slug": ""}, "slug"),
            ({"display_name": "  "}, "display_name"),
            ({"llm_mode": "sometimes"}, "llm_mode"),
            ({"tenant_id": ""}, "tenant_id"),
            # A tenant id is written in its one spelling or not at all: the service used to
            # strip " acme" into acme, while reads compared the claim as sent.
            ({"tenant_id": " acme"}, "tenant_id"),
            ({"tenant_id": "Acme Corp"}, "tenant_id"),
            ({"tenant_id": "acme\x00"}, "tenant_id"),
            ({"tenant_id": TENANT_A.upper()}, "tenant_id"),
        ],
    )
    def test_bad_input_names_the_field(self, kwargs, field):
        with pytest.raises(FieldError) as exc_info:
            make_deployment(**kwargs)
        assert fields_of(exc_info) == [field]


class TestTransitions:
    @pytest.mark.parametrize(("source", "target"), ALL_EDGES)
    def test_every_allowed_transition_moves_and_is_recorded(self, source, target):
        deployment = force_state(make_deployment(), source)
        moved = deployment_transition(
            deployment=deployment, to_state=target, actor="ops", reason="why", by_tenant=False
        )
        assert moved.state == target
        event = DeploymentEvent.objects.filter(deployment=deployment).last()
        assert (event.from_state, event.to_state, event.actor, event.reason) == (
            source,
            target,
            "ops",
            "why",
        )

    @pytest.mark.parametrize(
        ("source", "target", "allowed"),
        [
            ("cancelled", "active", ["archived"]),
            ("archived", "active", []),
            ("trial", "paused", ["active", "cancelled"]),
            ("active", "archived", ["past_due", "paused", "suspended", "cancelled"]),
            ("paused", "suspended", ["active", "cancelled"]),
            ("active", "active", ["past_due", "paused", "suspended", "cancelled"]),
            ("suspended", "trial", ["active", "cancelled"]),
        ],
    )
    def test_forbidden_transitions_are_422_listing_the_allowed_targets(
        self, source, target, allowed
    ):
        deployment = force_state(make_deployment(), source)
        with pytest.raises(InvalidStateChange) as exc_info:
            deployment_transition(
                deployment=deployment, to_state=target, actor="ops", by_tenant=False
            )
        assert exc_info.value.extra["allowed"] == allowed
        assert all(state in exc_info.value.message for state in allowed)
        deployment.refresh_from_db()
        assert deployment.state == source
        assert deployment.events.count() == 1

    def test_an_unknown_state_names_to_state(self):
        with pytest.raises(FieldError) as exc_info:
            deployment_transition(
                deployment=make_deployment(), to_state="gone", actor="x", by_tenant=False
            )
        assert fields_of(exc_info) == ["to_state"]

    @pytest.mark.parametrize(("source", "target"), sorted(TENANT_TRANSITIONS))
    def test_tenants_may_pause_resume_and_cancel(self, source, target):
        deployment = force_state(make_deployment(), source)
        moved = deployment_transition(
            deployment=deployment, to_state=target, actor="tenant", by_tenant=True
        )
        assert moved.state == target

    @pytest.mark.parametrize(("source", "target"), OPERATOR_ONLY_EDGES)
    def test_every_other_transition_is_forbidden_to_tenants(self, source, target):
        deployment = force_state(make_deployment(), source)
        with pytest.raises(Forbidden):
            deployment_transition(
                deployment=deployment, to_state=target, actor="tenant", by_tenant=True
            )
        deployment.refresh_from_db()
        assert deployment.state == source


@pytest.fixture
def studio_subscription(seeded):
    deployment = make_deployment()
    subscription_create(
        deployment=deployment,
        plan_code="studio",
        addon_codes=["storage_50gb"],
        starts_on=dt.date(2026, 5, 20),
        actor="tenant",
    )
    return Subscription.objects.filter(deployment=deployment).first()


class TestSubscriptionCreate:
    def test_binds_the_active_version_for_the_starting_month(self, studio_subscription):
        subscription = studio_subscription
        assert subscription.plan_version == active_version("studio")
        assert (subscription.status, subscription.started_on) == ("active", dt.date(2026, 5, 20))
        assert (subscription.current_period_start, subscription.current_period_end) == (
            dt.date(2026, 5, 1),
            dt.date(2026, 5, 31),
        )
        [addon] = subscription.addons.all()
        assert (addon.code, addon.qty, addon.price_cents, addon.currency) == (
            "storage_50gb",
            Decimal(50),
            750,
            "AUD",
        )
        event = subscription.events.get()
        assert event.type == "created" and event.details["addons"][0]["price_cents"] == 750

    def test_starts_today_utc_by_default(self, seeded):
        deployment = make_deployment()
        subscription = subscription_create(deployment=deployment, plan_code="starter", actor="t")
        assert subscription.started_on == utc_today()

    @pytest.mark.parametrize(
        ("plan_code", "addons", "field"),
        [
            ("enterprise", [], "plan_code"),
            ("unpublished", [], "plan_code"),
            ("studio", ["ghost"], "addons"),
            ("studio", ["retired_addon"], "addons"),
            ("starter", ["llm_1m_tokens"], "addons"),  # starter has no llm_tokens allowance
            ("studio", ["storage_50gb", "storage_50gb"], "addons"),
        ],
    )
    def test_bad_input_is_400_naming_the_field(self, seeded, plan_code, addons, field):
        plan_create(code="unpublished", name="Soon")
        retired = addon_create(
            code="retired_addon",
            name="Old",
            resource_kind="spaces_gb_month",
            qty=Decimal(10),
            price_cents=100,
            currency="AUD",
        )
        addon_deactivate(addon=retired)
        deployment = make_deployment()
        with pytest.raises(FieldError) as exc_info:
            subscription_create(
                deployment=deployment, plan_code=plan_code, addon_codes=addons, actor="t"
            )
        assert fields_of(exc_info) == [field]
        assert Subscription.objects.filter(deployment=deployment).first() is None

    def test_a_deployment_is_subscribed_once(self, studio_subscription):
        with pytest.raises(Conflict, match="already has a subscription"):
            subscription_create(
                deployment=studio_subscription.deployment, plan_code="pro", actor="t"
            )

    @pytest.mark.parametrize("state", ["cancelled", "archived", "suspended"])
    def test_only_a_deployment_in_good_standing_subscribes(self, seeded, state):
        deployment = force_state(make_deployment(), state)
        with pytest.raises(Conflict):
            subscription_create(deployment=deployment, plan_code="studio", actor="t")


class TestSnapshots:
    def test_a_catalog_change_never_reprices_an_existing_subscriber(self, studio_subscription):
        studio_v1 = studio_subscription.plan_version
        addon_update(addon=Addon.objects.get(code="storage_50gb"), price_cents=990, qty=Decimal(40))
        v2 = plan_version_create(
            plan=studio_v1.plan,
            base_price_cents=6500,
            currency="AUD",
            items=[item("spaces_gb_month", 10, 5)],
            actor="ops",
        )
        plan_version_publish(version=v2, actor="ops")

        subscription = Subscription.objects.get(deployment=studio_subscription.deployment)
        plan = plan_terms(subscription.plan_version)
        addons = addon_terms(subscription.addons.all())
        assert subscription.plan_version_id == studio_v1.pk
        assert (plan.version, plan.base_price_cents) == (1, 5000)
        assert [(a.code, a.qty, a.price_cents) for a in addons] == [
            ("storage_50gb", Decimal(50), 750)
        ]
        newcomer = subscription_create(
            deployment=make_deployment(),
            plan_code="studio",
            addon_codes=["storage_50gb"],
            actor="t",
        )
        assert newcomer.plan_version_id == v2.pk
        assert newcomer.addons.get().price_cents == 990


class TestSubscriptionChanges:
    def test_attach_an_addon_snapshots_it_and_records_it(self, studio_subscription):
        snapshot = subscription_attach_addon(
            subscription=studio_subscription, addon_code="llm_1m_tokens", actor="ops"
        )
        assert (snapshot.qty, snapshot.price_cents) == (Decimal(1_000_000), 1000)
        assert studio_subscription.events.last().type == "addon_attached"
        with pytest.raises(Conflict):
            subscription_attach_addon(
                subscription=studio_subscription, addon_code="llm_1m_tokens", actor="ops"
            )

    def test_change_plan_version_moves_and_records_it(self, studio_subscription):
        pro = active_version("pro")
        moved = subscription_change_plan_version(
            subscription=studio_subscription, version=pro, actor="ops"
        )
        assert moved.plan_version == pro
        event = studio_subscription.events.last()
        assert event.type == "plan_changed"
        assert (event.details["from"]["plan_code"], event.details["to"]["plan_code"]) == (
            "studio",
            "pro",
        )

    def test_change_refuses_drafts_retired_and_incompatible_versions(self, studio_subscription):
        studio_v1 = studio_subscription.plan_version
        draft = plan_version_create(
            plan=studio_v1.plan,
            base_price_cents=1,
            currency="AUD",
            items=[item("spaces_gb_month", 1, 1)],
            actor="ops",
        )
        with pytest.raises(FieldError, match="draft") as exc_info:
            subscription_change_plan_version(
                subscription=studio_subscription, version=draft, actor="ops"
            )
        assert fields_of(exc_info) == ["version"]
        plan_version_publish(version=draft, actor="ops")
        with pytest.raises(FieldError, match="retired"):
            subscription_change_plan_version(
                subscription=studio_subscription,
                version=PlanVersion.objects.get(pk=studio_v1.pk),
                actor="ops",
            )
        subscription_attach_addon(
            subscription=studio_subscription, addon_code="llm_1m_tokens", actor="ops"
        )
        with pytest.raises(FieldError, match="llm_1m_tokens"):
            subscription_change_plan_version(
                subscription=studio_subscription, version=active_version("starter"), actor="ops"
            )


class TestTransitionsFollowTheSubscription:
    def test_cancelling_cancels_the_subscription_today(self, studio_subscription):
        deployment_transition(
            deployment=studio_subscription.deployment,
            to_state="cancelled",
            actor="tenant",
            by_tenant=True,
        )
        studio_subscription.refresh_from_db()
        assert (studio_subscription.status, studio_subscription.cancelled_on) == (
            "cancelled",
            utc_today(),
        )
        assert studio_subscription.events.last().type == "cancelled"

    def test_pause_and_resume_pause_and_resume_it(self, studio_subscription):
        deployment = studio_subscription.deployment
        deployment_transition(deployment=deployment, to_state="paused", actor="t", by_tenant=True)
        studio_subscription.refresh_from_db()
        assert studio_subscription.status == "paused"
        deployment_transition(deployment=deployment, to_state="active", actor="t", by_tenant=True)
        studio_subscription.refresh_from_db()
        assert studio_subscription.status == "active"
        assert [e.type for e in studio_subscription.events.all()] == [
            "created",
            "paused",
            "resumed",
        ]

    def test_suspension_leaves_billing_running(self, studio_subscription):
        deployment = studio_subscription.deployment
        deployment_transition(
            deployment=deployment, to_state="suspended", actor="o", by_tenant=False
        )
        deployment_transition(deployment=deployment, to_state="active", actor="o", by_tenant=False)
        studio_subscription.refresh_from_db()
        assert studio_subscription.status == "active"
        assert studio_subscription.events.count() == 1

    def test_subscriptions_active_in_a_period(self, seeded):
        def subscribed(starts_on: dt.date, *, cancel: bool = False) -> int:
            deployment = make_deployment()
            subscription = subscription_create(
                deployment=deployment, plan_code="starter", starts_on=starts_on, actor="t"
            )
            if cancel:
                deployment_transition(
                    deployment=deployment, to_state="cancelled", actor="t", by_tenant=True
                )
            return subscription.pk

        april = subscribed(dt.date(2026, 4, 10))
        subscribed(dt.date(2026, 6, 1))
        in_may = subscriptions_active_between(dt.date(2026, 5, 1), dt.date(2026, 5, 31))
        assert [s.pk for s in in_may] == [april]

        # Cancelled today, before its start next month: it never ran, so it is never billed.
        start = utc_today() + dt.timedelta(days=40)
        never_ran = subscribed(start, cancel=True)
        around_start = subscriptions_active_between(start, start + dt.timedelta(days=1))
        assert never_ran not in [s.pk for s in around_start]


class TestAttachResources:
    """The deployment's side of attaching: it must exist and not be archived. The resources'
    side (locks, refusals, reassigning, events) is inventory's: tests/inventory/test_services.py.
    """

    def test_attaching_writes_one_attributed_event_per_resource(self):
        deployment = make_deployment()
        resources = [make_resource() for _ in range(3)]
        outcome = deployment_attach_resources(
            deployment=deployment, resource_ids=[r.pk for r in resources], actor="ops"
        )
        assert sorted(outcome.attached) == sorted(r.pk for r in resources)
        assert set(CloudResource.objects.values_list("deployment_id", flat=True)) == {deployment.pk}
        events = CloudResourceEvent.objects.filter(type="attributed")
        assert sorted(e.changes["deployment"] for e in events) == [[None, deployment.pk]] * 3
        assert {e.actor for e in events} == {"ops"}

    def test_query_count_does_not_grow_with_the_number_of_resources(self):
        def queries_to_attach(count: int) -> int:
            deployment = make_deployment()
            ids = [make_resource().pk for _ in range(count)]
            with CaptureQueriesContext(connection) as captured:
                deployment_attach_resources(deployment=deployment, resource_ids=ids, actor="ops")
            return len(captured.captured_queries)

        # + 4 for the resource history (issue 17): read rows, read open intervals, close, open;
        # + 1 for the margin summaries (issue 22): the cost lines of the moved resources
        assert queries_to_attach(2) == queries_to_attach(40) <= 13

    def test_an_archived_deployment_refuses_and_nothing_is_written(self):
        deployment = force_state(make_deployment(), "archived")
        resource = make_resource()
        with pytest.raises(Conflict, match="archived"):
            deployment_attach_resources(
                deployment=deployment, resource_ids=[resource.pk], actor="o"
            )
        resource.refresh_from_db()
        assert resource.deployment_id is None
        assert not CloudResourceEvent.objects.exists()

    def test_bad_ids_are_a_400_before_the_deployment_is_looked_at(self):
        archived = force_state(make_deployment(), "archived")
        with pytest.raises(FieldError) as exc_info:
            deployment_attach_resources(deployment=archived, resource_ids=[], actor="o")
        assert fields_of(exc_info) == ["resource_ids"]

    def test_a_resource_of_another_deployment_needs_reassign(self):
        first, second = make_deployment(), make_deployment()
        resource = make_resource()
        deployment_attach_resources(deployment=first, resource_ids=[resource.pk], actor="ops")
        with pytest.raises(Conflict) as exc_info:
            deployment_attach_resources(deployment=second, resource_ids=[resource.pk], actor="ops")
        assert fields_of(exc_info) == ["resource_ids"]
        outcome = deployment_attach_resources(
            deployment=second, resource_ids=[resource.pk], actor="ops", reassign=True
        )
        assert outcome.reassigned == [resource.pk]

    def test_detach(self):
        deployment = make_deployment()
        resource, stranger = make_resource(), make_resource()
        deployment_attach_resources(deployment=deployment, resource_ids=[resource.pk], actor="o")
        with pytest.raises(FieldError):
            deployment_detach_resources(
                deployment=deployment, resource_ids=[stranger.pk], actor="o"
            )
        assert deployment_detach_resources(
            deployment=deployment, resource_ids=[resource.pk], actor="o"
        ) == [resource.pk]
        resource.refresh_from_db()
        assert resource.deployment_id is None
        assert CloudResourceEvent.objects.filter(resource=resource).last().changes == {
            "deployment": [deployment.pk, None]
        }


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_slug_racing_is_a_400_never_a_500():
    results = run_concurrently(
        *[
            lambda: deployment_create(tenant_id=TENANT_A, slug="racer", display_name="R", actor="t")
            for _ in range(2)
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], FieldError) and list(errors[0].fields) == ["slug"]
