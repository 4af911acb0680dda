"""Matching invoice lines to inventory: lifetimes, tombstones, ambiguity, bulk loading."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.csv_parser import parse_invoice_csv
from billing.services import cost_lines_build
from tests.billing.factories import PERIOD_START, day, invoice_csv, line
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db


def build(*rows):
    return cost_lines_build(parse_invoice_csv(invoice_csv(rows)))


def test_live_resource_matches_case_insensitively():
    droplet = make_resource(name="Acme-Web-1")
    [cost] = build(line("Droplets", "acme-web-1 (s-1vcpu-2gb)"))
    assert (cost.match_status, cost.match_code, cost.resource_id) == ("matched", "live", droplet.pk)
    assert cost.resource_name == "acme-web-1"


def test_resource_tombstoned_in_the_period_matches():
    old = make_resource(name="acme-worker-old", deleted_at=day(15))
    [cost] = build(line("Droplets", "acme-worker-old (s-1vcpu-1gb)", end=day(12)))
    assert (cost.match_status, cost.match_code, cost.resource_id) == (
        "matched",
        "tombstoned",
        old.pk,
    )


def test_resource_tombstoned_before_the_period_does_not_match():
    make_resource(name="gone", deleted_at=PERIOD_START - dt.timedelta(days=3))
    [cost] = build(line("Droplets", "gone (s-1vcpu-1gb)"))
    assert (cost.match_status, cost.match_code, cost.resource_id) == (
        "unmatched",
        "not_alive",
        None,
    )
    assert "did not exist between 2026-04-01" in cost.match_reason


def test_resource_born_after_the_line_does_not_match():
    make_resource(
        name="reused", first_seen_at=day(20), attrs={"created_at": "2026-04-19T00:00:00Z"}
    )
    [cost] = build(line("Droplets", "reused (s-1vcpu-1gb)", end=day(12)))
    assert (cost.match_status, cost.match_code) == ("unmatched", "not_alive")


def test_provider_created_at_counts_when_inventory_first_synced_later():
    """A new installation ingesting last month: first_seen_at is after the period."""
    droplet = make_resource(
        name="veteran",
        first_seen_at=day(31) + dt.timedelta(days=5),
        attrs={"created_at": "2025-02-03T02:11:40Z"},
    )
    [cost] = build(line("Droplets", "veteran (s-1vcpu-1gb)"))
    assert (cost.match_status, cost.resource_id) == ("matched", droplet.pk)


def test_a_recreated_name_picks_the_resource_alive_during_the_line():
    make_resource(name="web", deleted_at=day(10))
    new = make_resource(name="web", first_seen_at=day(11))
    [cost] = build(line("Droplets", "web (s-1vcpu-1gb)", start=day(11)))
    assert (cost.match_status, cost.resource_id) == ("matched", new.pk)


def test_two_live_droplets_with_the_same_name_are_ambiguous():
    first = make_resource(name="twin")
    second = make_resource(name="TWIN")
    [cost] = build(line("Droplets", "twin (s-1vcpu-1gb)"))
    assert (cost.match_status, cost.match_code, cost.resource_id) == (
        "ambiguous",
        "several_candidates",
        None,
    )
    assert f"ids {min(first.pk, second.pk)}, {max(first.pk, second.pk)}" in cost.match_reason


def test_backup_line_matches_the_parent_droplet():
    droplet = make_resource(name="acme-web-1")
    make_resource(kind="droplet_backup", name="acme-web-1 2026-04-08")
    [cost] = build(line("Droplet Backups", "acme-web-1 (Weekly Backup Services)", "$2.40"))
    assert (cost.kind, cost.match_status, cost.resource_id) == (
        "droplet_backup",
        "matched",
        droplet.pk,
    )
    assert "backups are billed to their droplet" in cost.match_reason


def test_kinds_do_not_cross():
    make_resource(kind="volume", name="shared-name")
    [cost] = build(line("Droplets", "shared-name (s-1vcpu-1gb)"))
    assert (cost.match_status, cost.match_code) == ("unmatched", "not_in_inventory")


def test_every_resource_shape_matches_its_kind():
    snapshot = make_resource(kind="snapshot", name="web-nightly")
    volume = make_resource(kind="volume", name="acme-data")
    balancer = make_resource(kind="load_balancer", name="acme-lb")
    address = make_resource(kind="floating_ip", name="203.0.113.10", provider_id="203.0.113.10")
    costs = build(
        line("Droplet Snapshots", "web-nightly (syd1) 16GB Droplet Snapshot", "$0.96"),
        line("Volumes", "acme-data (100 GiB)", "$10.00"),
        line("Load Balancers", "acme-lb (lb-small)", "$12.00"),
        line("Reserved IPs", "203.0.113.10 (syd1)", "$5.00"),
    )
    assert [c.resource_id for c in costs] == [snapshot.pk, volume.pk, balancer.pk, address.pk]


def test_account_level_tax_and_unknown_lines_are_unmatched_with_reasons():
    costs = build(
        line("Spaces Subscription", "Spaces Subscription", "$5.00"),
        line("Taxes", "GST (10%)", "$1.00", hours=""),
        line("Gradient AI Agents", "my-agent (basic)", "$5.00"),
        line("Droplets", "no-size-suffix", "$5.00"),
    )
    assert [(c.match_status, c.match_code) for c in costs] == [
        ("unmatched", "account_level"),
        ("unmatched", "tax"),
        ("unmatched", "unknown_kind"),
        ("unmatched", "no_name"),
    ]
    assert costs[0].match_reason.startswith("account-level line")
    assert costs[1].is_tax and not costs[0].is_tax


def test_managed_db_placeholder_named_by_its_id_does_not_match():
    make_resource(kind="managed_db", name="5c31d441-2f63", provider_id="5c31d441-2f63")
    [cost] = build(line("Managed Databases", "globex-orders-db (db-s-1vcpu-2gb)", "$30.00"))
    assert (cost.match_status, cost.match_code) == ("unmatched", "not_in_inventory")
    assert "only from project URNs" in cost.match_reason


def test_candidates_are_loaded_in_bulk(django_assert_max_num_queries):
    for number in range(40):
        make_resource(name=f"bulk-{number}")
        make_resource(kind="volume", name=f"vol-{number}")
    rows = [line("Droplets", f"bulk-{n} (s-1vcpu-1gb)") for n in range(40)]
    rows += [line("Volumes", f"vol-{n} (10 GiB)") for n in range(40)]
    parsed = parse_invoice_csv(invoice_csv(rows))
    with django_assert_max_num_queries(1):
        costs = cost_lines_build(parsed)
    assert all(c.match_status == "matched" for c in costs)


def build_with_ids(rows, ids):
    return cost_lines_build(parse_invoice_csv(invoice_csv(rows)), provider_ids=ids)


def test_a_line_with_a_provider_id_matches_that_resource_whatever_its_name():
    renamed = make_resource(name="acme-web-1-renamed", provider_id="512340101")
    make_resource(name="acme-web-1", provider_id="999")  # the name would pick this one
    [cost] = build_with_ids([line("Droplets", "acme-web-1 (s-1vcpu-2gb)")], [("512340101",)])
    assert (cost.match_status, cost.match_code, cost.resource_id) == ("matched", "live", renamed.pk)
    assert cost.match_reason.startswith("by id 512340101: droplet")


def test_a_backup_line_with_its_droplets_id_matches_the_droplet():
    droplet = make_resource(name="web-1", provider_id="77")
    [cost] = build_with_ids([line("Droplet Backups", "web-1 (Weekly Backup Services)")], [("77",)])
    assert (cost.resource_id, cost.match_reason.startswith("by id 77")) == (droplet.pk, True)


def test_an_id_inventory_does_not_know_falls_back_to_the_name():
    droplet = make_resource(name="web-1", provider_id="77")
    [cost] = build_with_ids([line("Droplets", "web-1 (s-1vcpu-1gb)")], [("12345",)])
    assert cost.resource_id == droplet.pk
    assert cost.match_reason.startswith("by name and lifetime: droplet 'web-1'")


def test_an_id_of_another_kind_is_not_taken():
    make_resource(kind="volume", name="data", provider_id="abc")
    [cost] = build_with_ids([line("Droplets", "data (s-1vcpu-1gb)")], [("abc",)])
    assert (cost.match_status, cost.match_code) == ("unmatched", "not_in_inventory")
