"""Subscriptions that change (issue 20), through the API and the rollup: the three figures of the
issue (April 2026, seed catalog, 2 droplets all month = 48 droplet hours a day), the preview
equal to the rollup's lines, and the bad input that writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from deployments.models import (
    Deployment,
    DeploymentEvent,
    Subscription,
    SubscriptionEvent,
    SubscriptionScheduledChange,
    SubscriptionSegment,
)
from deployments.selectors import pricing_subjects_active_between
from deployments.services import scheduled_changes_apply_due, trials_end_due
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
from invoicing.pricing_inputs import load_pricing_inputs
from tests.conftest import TENANT_A
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import (
    APRIL,
    APRIL_END,
    at,
    cancel_on,
    make_invoice,
    meter,
    seed_catalog,
)
from tests.invoicing.factories import subscriber as make_subscriber

pytestmark = pytest.mark.django_db

MAY = dt.date(2026, 5, 1)
MAY_END = dt.date(2026, 5, 31)
HOURS_A_DAY = Decimal(48)


def url(deployment: Deployment, suffix: str) -> str:
    return f"/api/v1/deployments/{deployment.pk}/{suffix}"


def subscriber(plan: str, **kwargs) -> Deployment:
    seed_catalog()
    return make_subscriber(TENANT_A, plan=plan, addons=(), droplets=2, **kwargs)


def invoice_of(month: dt.date) -> TenantInvoice:
    return TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=month)


def line_tuples(lines) -> list[tuple]:
    return [
        (line["kind"], line["description"], Decimal(line["qty"]), line["amount_cents"])
        for line in lines
    ]


def invoice_tuples(invoice: TenantInvoice) -> list[tuple]:
    return [
        (line.kind, line.description, line.qty, line.amount_cents)
        for line in invoice.lines.order_by("position")
    ]


def written_rows() -> tuple[int, ...]:
    return (
        SubscriptionSegment.objects.count(),
        SubscriptionScheduledChange.objects.count(),
        SubscriptionEvent.objects.count(),
        Subscription.objects.filter(plan_version__plan__code="studio").count(),
    )


def moved_clock(monkeypatch, instant: dt.datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: instant)


UPGRADE = {"plan_code": "studio", "addons": [], "effective": "now", "on": "2026-04-11"}


class TestUpgradeOnThe11th:
    def test_the_month_is_split_and_each_segment_priced_on_its_own(self, admin_api):
        deployment = subscriber("starter")
        meter()
        before = written_rows()
        preview = admin_api.post(url(deployment, "change-plan/preview"), UPGRADE, format="json")
        assert preview.status_code == 200, preview.content
        assert written_rows() == before  # the preview wrote nothing

        response = admin_api.post(url(deployment, "change-plan"), UPGRADE, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["subscription"]["plan_code"] == "studio"
        assert [
            (s["plan_code"], s["starts_on"], s["ends_on"]) for s in body["subscription_segments"]
        ] == [("starter", "2026-04-01", "2026-04-10"), ("studio", "2026-04-11", None)]

        roll_up_period(APRIL)
        invoice = invoice_of(APRIL)
        by_kind = [(line.kind, line.amount_cents) for line in invoice.lines.order_by("position")]
        starter_recurring = round(Decimal(2000 * 10) / 30)  # 666.67 → 667
        starter_allowance = Decimal(744) * 10 / 30  # 248 h
        starter_over = 10 * HOURS_A_DAY - starter_allowance  # 480 - 248 = 232 h at 1c
        studio_recurring = int(Decimal(5000 * 20) / 30)  # 3333.33 → 3333
        assert (starter_recurring, starter_over, studio_recurring) == (667, 232, 3333)
        assert by_kind == [
            ("plan_base", starter_recurring),
            ("overage", int(starter_over)),
            ("plan_base", studio_recurring),  # 960 h within 1488 x 20/30 = 992 h: no overage
            ("tax", 423),
        ]
        assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (
            4232,
            423,
            4655,
        )
        overage = invoice.lines.get(kind="overage")
        assert overage.meta["allowance"] == "248"
        assert overage.meta["segment"]["allowance_share"] == "10/30"
        studio = invoice.lines.filter(kind="plan_base").last()
        assert studio.meta["segment"]["first_day"] == "2026-04-11"
        assert "11-30 April 2026" in studio.description

        # The preview made before the change is what the rollup invoiced.
        after = preview.json()["after"]
        assert line_tuples(after["lines"]) == invoice_tuples(invoice)
        assert after["total_cents"] == invoice.total_cents == 4655
        assert preview.json()["before"]["subtotal_cents"] == 2000 + 1440 - 744

    def test_a_tenant_changes_its_own_deployment_but_cannot_choose_the_day(
        self, tenant_a_api, tenant_b_api
    ):
        deployment = subscriber("starter")
        before = written_rows()
        refused = tenant_a_api.post(url(deployment, "change-plan"), UPGRADE, format="json")
        assert refused.status_code == 403
        other = tenant_b_api.post(
            url(deployment, "change-plan"), {**UPGRADE, "on": None}, format="json"
        )
        assert other.status_code == 404
        assert written_rows() == before
        changed = tenant_a_api.post(
            url(deployment, "change-plan"), {"plan_code": "studio"}, format="json"
        )
        assert changed.status_code == 200, changed.content
        assert changed.json()["subscription_segments"][-1]["starts_on"] == str(
            timezone.now().date()
        )


class TestBadInputWritesNothing:
    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"plan_code": "starter", "addons": [], "on": "2026-04-11"}, 400, "plan_code"),
            ({"plan_code": "nope", "on": "2026-04-11"}, 400, "plan_code"),
            ({"plan_code": "studio", "addons": ["nope"], "on": "2026-04-11"}, 400, "addons"),
            ({"plan_code": "studio", "on": "2026-03-11"}, 400, "on"),
            ({"plan_code": "studio", "on": "2999-01-01"}, 400, "on"),
            ({"plan_code": "studio", "effective": "later"}, 400, "effective"),
            ({"plan_code": "studio", "effective": "period_end", "on": "2026-04-11"}, 400, "on"),
        ],
    )
    def test_refused_naming_the_field(self, admin_api, body, status, field):
        deployment = subscriber("starter")
        before = written_rows()
        for suffix in ("change-plan", "change-plan/preview"):
            response = admin_api.post(url(deployment, suffix), body, format="json")
            assert response.status_code == status, response.content
            assert field in response.json()["error"]["fields"], response.json()
        assert written_rows() == before

    def test_a_day_inside_an_invoiced_month_is_refused(self, admin_api):
        deployment = subscriber("starter")
        make_invoice(TENANT_A, period_start=APRIL)
        before = written_rows()
        response = admin_api.post(url(deployment, "change-plan"), UPGRADE, format="json")
        assert response.status_code == 400
        assert "invoiced" in response.json()["error"]["fields"]["on"][0]
        assert written_rows() == before

    def test_a_cancelled_deployment_cannot_change(self, admin_api):
        deployment = subscriber("starter")
        assert (
            admin_api.post(
                url(deployment, "transition"), {"to_state": "cancelled"}, format="json"
            ).status_code
            == 200
        )
        before = written_rows()
        response = admin_api.post(url(deployment, "change-plan"), UPGRADE, format="json")
        assert response.status_code == 409
        assert written_rows() == before

    def test_of_two_changes_on_one_day_the_second_is_refused(self, admin_api):
        deployment = subscriber("starter")
        assert (
            admin_api.post(url(deployment, "change-plan"), UPGRADE, format="json").status_code
            == 200
        )
        before = written_rows()
        again = {**UPGRADE, "plan_code": "pro"}
        response = admin_api.post(url(deployment, "change-plan"), again, format="json")
        assert response.status_code == 409
        assert "on" in response.json()["error"]["fields"]
        assert written_rows() == before


class TestDowngradeAtThePeriodEnd:
    def test_april_is_studio_may_is_starter(self, admin_api, monkeypatch):
        deployment = subscriber("studio")
        with monkeypatch.context() as patched:
            moved_clock(patched, at(dt.date(2026, 4, 20), 12))
            response = admin_api.post(
                url(deployment, "change-plan"),
                {"plan_code": "starter", "addons": [], "effective": "period_end"},
                format="json",
            )
        assert response.status_code == 200, response.content
        [scheduled] = response.json()["scheduled_changes"]
        assert (scheduled["plan_code"], scheduled["effective_on"], scheduled["status"]) == (
            "starter",
            "2026-05-01",
            "pending",
        )
        assert response.json()["subscription"]["plan_code"] == "studio"
        meter(APRIL, MAY_END)

        roll_up_period(APRIL)
        april = invoice_of(APRIL)
        assert [(line.kind, line.amount_cents) for line in april.lines.order_by("position")] == [
            ("plan_base", 5000),  # 1440 h within 1488: no overage
            ("tax", 500),
        ]
        assert SubscriptionScheduledChange.objects.get().status == "pending"

        roll_up_period(MAY)  # the rollup applies the change due on 1 May before pricing May
        may = invoice_of(MAY)
        base = may.lines.get(kind="plan_base")
        assert (base.meta["plan_code"], base.amount_cents) == ("starter", 2000)
        overage = may.lines.get(kind="overage")
        assert overage.amount_cents == 31 * 48 - 744
        assert SubscriptionScheduledChange.objects.get().status == "applied"
        assert Subscription.objects.get().plan_version.plan.code == "starter"
        event = SubscriptionEvent.objects.filter(type="plan_changed").get()
        assert (event.actor, event.details["on"]) == ("system", "2026-05-01")

    def test_the_preview_of_a_period_end_change_is_mays_recurring_invoice(
        self, admin_api, monkeypatch
    ):
        """Asked on 20 April, the preview prices May as the change leaves it — starter — with
        no May usage yet: its recurring lines are May's invoice's, to the cent."""
        deployment = subscriber("studio")
        body = {"plan_code": "starter", "addons": [], "effective": "period_end"}
        with monkeypatch.context() as patched:
            moved_clock(patched, at(dt.date(2026, 4, 20), 12))
            before = written_rows()
            preview = admin_api.post(url(deployment, "change-plan/preview"), body, format="json")
            assert preview.status_code == 200, preview.content
            assert written_rows() == before  # the preview wrote nothing
            changed = admin_api.post(url(deployment, "change-plan"), body, format="json")
            assert changed.status_code == 200, changed.content
        meter(APRIL, MAY_END)
        roll_up_period(APRIL)
        roll_up_period(MAY)

        recurring = ("plan_base", "addon")
        previewed = [t for t in line_tuples(preview.json()["after"]["lines"]) if t[0] in recurring]
        invoiced = [t for t in invoice_tuples(invoice_of(MAY)) if t[0] in recurring]
        assert (
            previewed
            == invoiced
            == [
                ("plan_base", invoiced[0][1], Decimal(1), 2000)  # starter, the whole of May
            ]
        )

    def test_a_scheduled_change_can_be_cancelled_until_it_applies(self, tenant_a_api):
        deployment = subscriber("studio", starts_on=timezone.now().date())
        body = {"plan_code": "starter", "addons": [], "effective": "period_end"}
        assert (
            tenant_a_api.post(url(deployment, "change-plan"), body, format="json").status_code
            == 200
        )
        second = tenant_a_api.post(url(deployment, "change-plan"), body, format="json")
        assert second.status_code == 409
        cancelled = tenant_a_api.post(url(deployment, "change-plan/cancel"), {}, format="json")
        assert cancelled.status_code == 200, cancelled.content
        assert cancelled.json()["scheduled_changes"][0]["status"] == "cancelled"
        assert scheduled_changes_apply_due(through=dt.date(2999, 1, 1), durable=False) == []
        assert Subscription.objects.get().plan_version.plan.code == "studio"
        again = tenant_a_api.post(url(deployment, "change-plan/cancel"), {}, format="json")
        assert again.status_code == 409

    def test_the_daily_task_applies_each_change_once(self, admin_api, monkeypatch):
        deployment = subscriber("studio")
        with monkeypatch.context() as patched:
            moved_clock(patched, at(dt.date(2026, 4, 20), 12))
            admin_api.post(
                url(deployment, "change-plan"),
                {"plan_code": "starter", "effective": "period_end"},
                format="json",
            )
        assert scheduled_changes_apply_due(through=APRIL_END) == []
        [applied] = scheduled_changes_apply_due(through=MAY)
        assert scheduled_changes_apply_due(through=MAY) == []
        assert SubscriptionScheduledChange.objects.get(pk=applied).status == "applied"
        assert list(
            SubscriptionSegment.objects.values_list("plan_version__plan__code", "starts_on")
        ) == [("studio", APRIL), ("starter", MAY)]


class TestTrial:
    def test_14_days_on_studio_from_the_5th_bill_from_the_19th(self, admin_api):
        seed_catalog()
        deployment = make_deployment(tenant_id=TENANT_A)
        response = admin_api.post(
            url(deployment, "subscribe"),
            {"plan_code": "studio", "starts_on": "2026-04-05", "trial_days": 14},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["state"] == "trial"
        assert body["subscription"]["trial_ends_at"].startswith("2026-04-19T00:00:00")
        for _ in range(2):
            make_resource("droplet", deployment=deployment, status="active")
        meter()

        roll_up_period(APRIL)
        invoice = invoice_of(APRIL)
        assert [(line.kind, line.amount_cents) for line in invoice.lines.order_by("position")] == [
            ("plan_base", 5000 * 12 // 30),  # 19-30 April: 2000c
            ("tax", 200),
        ]
        base = invoice.lines.get(kind="plan_base")
        assert base.meta["fraction"] == "12/30"
        assert base.meta["usage_period"] == ["2026-04-19", "2026-04-30"]
        assert base.meta["prices_on"] == "2026-04-19"

        (inputs,) = load_pricing_inputs(
            pricing_subjects_active_between(APRIL, APRIL_END), month=APRIL
        ).subscriptions
        assert inputs.usage["droplet_hours"] == 12 * HOURS_A_DAY == 576

    def test_the_daily_task_ends_a_trial_once_with_actor_system(self, admin_api):
        seed_catalog()
        deployment = make_deployment(tenant_id=TENANT_A)
        admin_api.post(
            url(deployment, "subscribe"),
            {"plan_code": "studio", "starts_on": "2026-04-05", "trial_days": 14},
            format="json",
        )
        assert trials_end_due(now=at(dt.date(2026, 4, 18), 23)) == []
        assert trials_end_due(now=at(dt.date(2026, 4, 19))) == [deployment.pk]
        assert trials_end_due(now=at(dt.date(2026, 4, 19))) == []
        deployment.refresh_from_db()
        assert deployment.state == "active"
        ended = DeploymentEvent.objects.filter(deployment=deployment).last()
        assert (ended.from_state, ended.to_state, ended.actor) == ("trial", "active", "system")
        assert SubscriptionEvent.objects.filter(type="trial_ended").count() == 1

    def test_an_operator_extends_a_trial_and_a_cancelled_trial_bills_nothing(
        self, admin_api, tenant_a_api
    ):
        seed_catalog()
        deployment = make_deployment(tenant_id=TENANT_A)
        admin_api.post(
            url(deployment, "subscribe"),
            {"plan_code": "studio", "starts_on": "2026-04-05", "trial_days": 14},
            format="json",
        )
        assert tenant_a_api.post(url(deployment, "extend-trial"), {"days": 7}).status_code == 403
        bad = admin_api.post(url(deployment, "extend-trial"), {"days": 0}, format="json")
        assert bad.status_code == 400 and "days" in bad.json()["error"]["fields"]
        extended = admin_api.post(url(deployment, "extend-trial"), {"days": 12}, format="json")
        assert extended.status_code == 200, extended.content
        assert extended.json()["subscription"]["trial_ends_at"].startswith("2026-05-01T00:00")
        assert extended.json()["subscription_events"][-1]["type"] == "trial_extended"
        meter()
        report = roll_up_period(APRIL)  # the whole of April is trial: nothing to bill
        assert not TenantInvoice.objects.filter(tenant_id=TENANT_A).exists()
        assert all(result.outcome != "failed" for result in report.results)

    def test_a_trial_needs_a_fresh_active_deployment(self, admin_api):
        deployment = subscriber("starter")
        response = admin_api.post(
            url(deployment, "subscribe"), {"plan_code": "studio", "trial_days": 14}, format="json"
        )
        assert response.status_code == 409
        assert Subscription.objects.get().trial_ends_at is None
        not_in_trial = admin_api.post(url(deployment, "extend-trial"), {"days": 3}, format="json")
        assert not_in_trial.status_code == 409
        assert "days" in not_in_trial.json()["error"]["fields"]


def test_an_add_on_attached_mid_month_follows_the_segment_rule(admin_api):
    deployment = subscriber("studio")
    meter()
    body = {"plan_code": "studio", "addons": ["storage_50gb"], "on": "2026-04-11"}
    response = admin_api.post(url(deployment, "change-plan"), body, format="json")
    assert response.status_code == 200, response.content
    roll_up_period(APRIL)
    lines = [
        (line.kind, line.amount_cents) for line in invoice_of(APRIL).lines.order_by("position")
    ]
    # studio 1-10 April (5000 x 10/30), then studio + the add-on 11-30 (5000, 750 x 20/30);
    # 480 h within 1488 x 10/30 = 496 h, 960 h within 992 h: no overage.
    assert lines == [
        ("plan_base", 1667),
        ("plan_base", 3333),
        ("addon", 500),
        ("tax", 550),
    ]


def test_a_trial_cancelled_before_its_end_produces_no_invoice(admin_api):
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    admin_api.post(
        url(deployment, "subscribe"),
        {"plan_code": "studio", "starts_on": "2026-04-05", "trial_days": 14},
        format="json",
    )
    make_resource("droplet", deployment=deployment, status="active")
    meter()
    cancel_on(deployment, dt.date(2026, 4, 10))
    roll_up_period(APRIL)
    assert not TenantInvoice.objects.filter(tenant_id=TENANT_A).exists()
