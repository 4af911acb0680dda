"""The one transition map is exactly SPEC §9's table."""

from deployments.state_machine import TENANT_TRANSITIONS, TRANSITIONS, allowed_targets

SPEC_TABLE = {
    "trial": {"active", "cancelled"},
    "active": {"past_due", "paused", "suspended", "cancelled"},
    "past_due": {"active", "suspended", "cancelled"},
    "paused": {"active", "cancelled"},
    "suspended": {"active", "cancelled"},
    "cancelled": {"archived"},
    "archived": set(),
}


def test_the_map_is_the_spec_table():
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == SPEC_TABLE


def test_tenants_may_pause_resume_and_cancel_in_good_standing_only():
    assert {
        ("active", "paused"),
        ("paused", "active"),
        ("trial", "cancelled"),
        ("active", "cancelled"),
        ("paused", "cancelled"),
    } == TENANT_TRANSITIONS


def test_allowed_targets_are_listed_in_a_stable_order():
    assert allowed_targets("active") == ["past_due", "paused", "suspended", "cancelled"]
    assert allowed_targets("archived") == []
