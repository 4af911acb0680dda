"""The billing-kind registry: the units, factors and mappings every app relies on (SPEC §8, §11)."""

from decimal import Decimal

import pytest

from pricing import kinds as billing_kinds
from pricing.kinds import (
    BILLING_KINDS,
    RESOURCE_KIND_TO_BILLING_KIND,
    UNITS,
    UnknownBillingKindError,
    UnknownUnitError,
)


def test_unit_factors_are_the_specified_ones():
    assert {code: unit.factor for code, unit in UNITS.items()} == {
        "hour": Decimal(1),
        "gb_month": Decimal(1),
        "gb": Decimal(1),
        "zone": Decimal(1),
        "token": Decimal(1),
        "1k_tokens": Decimal(1000),
    }


def test_every_factor_is_a_decimal_not_a_float():
    assert all(type(unit.factor) is Decimal for unit in UNITS.values())


def test_billing_kinds_and_their_base_units():
    assert {code: kind.base_unit for code, kind in BILLING_KINDS.items()} == {
        "droplet_hours": "hour",
        "spaces_gb_month": "gb_month",
        "snapshot_gb_month": "gb_month",
        "backup_gb_month": "gb_month",
        "volume_gb_month": "gb_month",
        "bandwidth_gb": "gb",
        "dns_zones": "zone",
        "load_balancer_hours": "hour",
        "floating_ip_hours": "hour",
        "llm_tokens": "token",
        # issue 17: every kind inventory syncs
        "gpu_droplet_hours": "hour",
        "database_node_hours": "hour",
        "kubernetes_node_hours": "hour",
        "app_instance_hours": "hour",
        "custom_image_gb_month": "gb_month",
        "registry_gb_month": "gb_month",
        "reserved_ipv6_hours": "hour",
    }


def test_llm_tokens_overage_is_priced_per_thousand_tokens():
    assert BILLING_KINDS["llm_tokens"].overage_unit == "1k_tokens"
    assert billing_kinds.unit_factor("1k_tokens") == Decimal(1000)


def test_every_kind_default_overage_unit_can_price_it():
    for code, kind in BILLING_KINDS.items():
        assert billing_kinds.units_compatible(code, kind.overage_unit), code


def test_unit_factor_of_an_unknown_unit_names_the_allowed_units():
    with pytest.raises(UnknownUnitError, match=r"'gigabyte' is not a unit; use one of: hour"):
        billing_kinds.unit_factor("gigabyte")


def test_unknown_errors_are_value_errors_so_callers_can_answer_400():
    assert issubclass(UnknownUnitError, ValueError)
    assert issubclass(UnknownBillingKindError, ValueError)


def test_get_billing_kind_of_an_unknown_code_names_the_allowed_kinds():
    with pytest.raises(UnknownBillingKindError, match="'gpu_hours' is not a billing kind"):
        billing_kinds.get_billing_kind("gpu_hours")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("droplet_hours", True), ("llm_tokens", True), ("droplet", False), ("", False), (None, False)],
)
def test_is_billing_kind(code, expected):
    assert billing_kinds.is_billing_kind(code) is expected


def test_to_units_divides_base_quantities_by_the_unit_factor():
    assert billing_kinds.to_units(Decimal(1500), "1k_tokens") == Decimal("1.5")
    assert billing_kinds.to_units(Decimal("3.25"), "gb_month") == Decimal("3.25")


@pytest.mark.parametrize(
    ("kind", "unit", "expected"),
    [
        ("llm_tokens", "token", True),
        ("llm_tokens", "1k_tokens", True),
        ("llm_tokens", "hour", False),
        ("droplet_hours", "hour", True),
        ("droplet_hours", "1k_tokens", False),
        ("spaces_gb_month", "gb_month", True),
        ("spaces_gb_month", "gb", False),
        ("bandwidth_gb", "gb", True),
        ("bandwidth_gb", "gb_month", False),
        ("dns_zones", "zone", True),
        ("floating_ip_hours", "hour", True),
    ],
)
def test_units_compatible(kind, unit, expected):
    assert billing_kinds.units_compatible(kind, unit) is expected


def test_compatible_units_lists_what_can_price_a_kind():
    assert billing_kinds.compatible_units("llm_tokens") == ("token", "1k_tokens")
    assert billing_kinds.compatible_units("volume_gb_month") == ("gb_month",)


def test_units_compatible_reports_typos_as_typos():
    with pytest.raises(UnknownUnitError):
        billing_kinds.units_compatible("droplet_hours", "hours")
    with pytest.raises(UnknownBillingKindError):
        billing_kinds.units_compatible("droplets", "hour")


def test_choices_list_every_kind_once_in_registry_order_with_a_label():
    choices = billing_kinds.choices()
    assert [code for code, _ in choices] == list(BILLING_KINDS)
    assert all(label.strip() for _, label in choices)


def test_unit_choices_list_every_unit():
    assert [code for code, _ in billing_kinds.unit_choices()] == list(UNITS)


def test_resource_kinds_map_to_the_billing_kinds_metering_records():
    assert dict(RESOURCE_KIND_TO_BILLING_KIND) == {
        "droplet": "droplet_hours",
        "spaces_bucket": "spaces_gb_month",
        "snapshot": "snapshot_gb_month",
        "droplet_backup": "backup_gb_month",
        "volume": "volume_gb_month",
        "dns_zone": "dns_zones",
        "load_balancer": "load_balancer_hours",
        "floating_ip": "floating_ip_hours",
        "managed_db": "database_node_hours",
        "k8s_cluster": "kubernetes_node_hours",
        "app": "app_instance_hours",
        "container_registry": "registry_gb_month",
        "custom_image": "custom_image_gb_month",
        "reserved_ipv6": "reserved_ipv6_hours",
        "gpu_droplet": "gpu_droplet_hours",
    }
    assert all(
        billing_kinds.is_billing_kind(kind) for kind in RESOURCE_KIND_TO_BILLING_KIND.values()
    )


def test_registries_cannot_be_changed_at_runtime():
    with pytest.raises(TypeError):
        UNITS["hour"] = UNITS["gb"]  # type: ignore[index]
    with pytest.raises(TypeError):
        RESOURCE_KIND_TO_BILLING_KIND["droplet"] = "bandwidth_gb"  # type: ignore[index]


def test_every_metered_resource_kind_accrues_a_registered_billing_kind():
    from pricing.kinds import RESOURCE_KIND_TO_BILLING_KIND, RESOURCE_KINDS, Accrual

    assert set(RESOURCE_KIND_TO_BILLING_KIND.values()) <= set(billing_kinds.BILLING_KINDS)
    assert RESOURCE_KINDS["droplet"].billable_statuses == {"active"}
    assert RESOURCE_KINDS["floating_ip"].billable_statuses == {"unassigned"}
    assert RESOURCE_KINDS["volume"].accrual is Accrual.SIZE_PER_MONTH
    assert not RESOURCE_KINDS["firewall"].is_metered


def test_a_resource_kind_is_checked_where_it_is_declared():
    from pricing.kinds import Accrual, ResourceKind

    with pytest.raises(ValueError, match="billing kind and its accrual go together"):
        ResourceKind("thing", "Thing", billing_kind="droplet_hours")
    with pytest.raises(ValueError, match="only an hourly kind accrues by status"):
        ResourceKind(
            "thing",
            "Thing",
            "volume_gb_month",
            Accrual.SIZE_PER_MONTH,
            billable_statuses=frozenset({"active"}),
        )


def test_a_droplet_bills_as_a_gpu_droplet_or_a_kubernetes_worker_by_its_attrs():
    assert billing_kinds.billed_as("droplet", {"gpu_count": 1}) == "gpu_droplet"
    assert billing_kinds.billed_as("droplet", {"gpu_count": 0}) == "droplet"
    assert billing_kinds.billed_as("droplet", {"tags": ["k8s:abc"], "gpu_count": 1}) == "k8s_worker"
    assert billing_kinds.billed_as("volume", {"tags": ["k8s:abc"]}) == "volume"
    assert not billing_kinds.RESOURCE_KINDS["k8s_worker"].is_metered


@pytest.mark.parametrize(
    ("kind", "attrs", "size"),
    [
        ("volume", {"size_gb": "16.5"}, Decimal("16.5")),
        ("volume", {"size_gb": "1.6E+2"}, Decimal(160)),
        ("volume", {"size_gb": "1000000000"}, None),  # at MAX_SIZE: refused
        ("volume", {"size_gb": True}, None),
        ("load_balancer", {"nodes": 3}, Decimal(3)),
        ("load_balancer", {}, None),
        ("droplet", {}, Decimal(1)),
        ("dns_zone", {}, Decimal(1)),
    ],
)
def test_billed_size_reads_the_kinds_size_attribute(kind, attrs, size):
    assert billing_kinds.billed_size(kind, attrs) == size
