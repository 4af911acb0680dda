"""The pure drift rules: loose comparison, live-value lookup, spec validation, adoption."""

from __future__ import annotations

import datetime as dt

import pytest

from arcadia_cloud.validation import FieldError
from drift.rules import (
    adopt_live_value,
    find_mismatches,
    live_value,
    loosely_equal,
    spec_validate,
)
from inventory.models import CloudResource


def resource(**overrides) -> CloudResource:
    values = {
        "kind": "droplet",
        "name": "web-1",
        "region": "syd1",
        "size_slug": "s-1vcpu-1gb",
        "status": "active",
        "attrs": {"vcpus": 2, "tags": ["a", "b"]},
    }
    values.update(overrides)
    return CloudResource(**values)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        (2, "2"),
        (2.0, 2),
        (True, "true"),
        (["a", "b"], ["b", "a"]),
        (["a", "b"], ["b", "a", "a"]),
        ({"x": 1, "y": ["p", "q"]}, {"y": ["q", "p"], "x": "1"}),
        ({"outer": {"inner": [1, 2]}}, {"outer": {"inner": ["2", "1"]}}),
        ([{"port": 80}, {"port": 443}], [{"port": "443"}, {"port": "80"}]),
        (None, ""),
        ([], None),
        ({"x": 1, "gone": None}, {"x": 1}),
    ],
)
def test_loosely_equal_values(expected, actual):
    assert loosely_equal(expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("s-2vcpu-4gb", "s-1vcpu-1gb"),
        (2, 3),
        (["a", "b"], ["a"]),
        ({"x": 1, "y": 2}, {"x": 1, "y": 3}),
        ({"x": 1}, {"x": 1, "extra": 2}),
        ("a", ["a"]),
        ("NYC1", "nyc1"),
        (1, None),
    ],
)
def test_loosely_different_values(expected, actual):
    assert not loosely_equal(expected, actual)


def test_live_value_reads_top_level_columns_then_attrs():
    live = resource()
    assert live_value(live, "size_slug") == "s-1vcpu-1gb"
    assert live_value(live, "vcpus") == 2
    assert live_value(live, "not_reported") is None


def test_mismatches_flag_a_wrong_size_and_not_a_correct_region():
    mismatches = find_mismatches(
        spec={"size_slug": "s-2vcpu-4gb", "region": "syd1"}, resource=resource()
    )
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [
        ("size_slug", "s-2vcpu-4gb", "s-1vcpu-1gb")
    ]


def test_a_gone_resource_has_only_the_exists_mismatch():
    gone = resource(deleted_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    mismatches = find_mismatches(spec={"size_slug": "s-2vcpu-4gb"}, resource=gone)
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("exists", True, False)]


def test_a_resource_meant_to_be_gone_that_is_gone_matches():
    gone = resource(deleted_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    assert find_mismatches(spec={"exists": False}, resource=gone) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["size_slug"], "got an array"),
        ("s-1vcpu", "got a string"),
        (None, "got null"),
        ({}, "at least one field"),
        ({"last_seen_at": "x"}, "sync bookkeeping"),
        ({"deleted_at": None}, "use `exists`"),
        ({"attrs": {}}, "name the attrs keys"),
        ({"exists": "yes"}, "true or false"),
        ({"exists": False, "region": "syd1"}, "no other field"),
        ({" ": 1}, "non-empty"),
        ({"x" * 101: 1}, "over 100"),
    ],
)
def test_invalid_specs_name_the_spec_field(spec, message):
    with pytest.raises(FieldError) as error:
        spec_validate(spec)
    assert set(error.value.fields) == {"spec"}
    assert message in error.value.message


def test_unknown_field_names_are_attrs_keys_and_allowed():
    assert spec_validate({"whatever_key": 1, "region": "syd1"}) == {
        "whatever_key": 1,
        "region": "syd1",
    }


def test_adopting_keeps_other_expectations():
    spec = {"size_slug": "s-2vcpu-4gb", "region": "syd1"}
    adopted = adopt_live_value(spec, field="size_slug", actual="s-1vcpu-1gb")
    assert adopted == {"size_slug": "s-1vcpu-1gb", "region": "syd1"}
    assert spec["size_slug"] == "s-2vcpu-4gb"


def test_adopting_that_a_resource_is_gone_leaves_only_exists_false():
    spec = {"size_slug": "s-2vcpu-4gb", "region": "syd1"}
    assert adopt_live_value(spec, field="exists", actual=False) == {"exists": False}
