"""Kind derivation, tax detection and resource-name extraction for every DO line shape."""

from __future__ import annotations

import pytest

from billing.classify import classify_line, derive_kind, extract_resource_name, is_tax_line


@pytest.mark.parametrize(
    ("product", "kind"),
    [
        ("Droplet Snapshots", "snapshot"),
        ("Volume Snapshots", "snapshot"),
        ("Snapshots", "snapshot"),
        ("Droplet Backups", "droplet_backup"),
        ("Backups", "droplet_backup"),
        ("Droplets", "droplet"),
        ("DROPLETS", "droplet"),
        ("Spaces Subscription", "spaces_bucket"),
        ("Spaces", "spaces_bucket"),
        ("Volumes", "volume"),
        ("Block Storage", "volume"),
        ("Load Balancers", "load_balancer"),
        ("Floating IPs", "floating_ip"),
        ("Reserved IPs", "floating_ip"),
        ("Managed Databases", "managed_db"),
        ("Databases", "managed_db"),
        ("Kubernetes", "k8s_cluster"),
        ("Kubernetes Clusters", "k8s_cluster"),
        ("Taxes", "other"),
        ("App Platform", "app"),
        ("GPU Droplets", "droplet"),
        ("Container Registry", "container_registry"),
        ("Reserved IPv6", "reserved_ipv6"),
        ("Bandwidth", "other"),
    ],
)
def test_kind_derivation(product, kind):
    assert derive_kind(product) == kind


@pytest.mark.parametrize(
    ("product", "description", "is_tax"),
    [
        ("Taxes", "GST (10%)", True),
        ("Taxes", "Sales tax", True),
        ("Other", "Australian GST", True),
        ("Tax", "VAT (20%)", True),
        ("Droplets", "tax-reports (s-1vcpu-1gb)", False),
        ("Droplets", "gst-calculator (s-1vcpu-1gb)", False),
        ("Spaces Subscription", "Spaces Subscription", False),
    ],
)
def test_tax_lines(product, description, is_tax):
    assert is_tax_line(product, description, kind=derive_kind(product)) is is_tax


@pytest.mark.parametrize(
    ("kind", "description", "name"),
    [
        ("droplet", "acme-web-1 (s-1vcpu-2gb)", "acme-web-1"),
        ("droplet", "globex-warehouse (m-24vcpu-192gb)", "globex-warehouse"),
        ("droplet_backup", "acme-web-1 (Weekly Backup Services)", "acme-web-1"),
        ("snapshot", "acme-web-1-nightly (syd1) 16GB Droplet Snapshot", "acme-web-1-nightly"),
        (
            "snapshot",
            "globex-api-1-pre-upgrade (sgp1) 10.15GB Droplet Snapshot",
            "globex-api-1-pre-upgrade",
        ),
        ("snapshot", "acme-data-weekly (syd1) 16GB Volume Snapshot", "acme-data-weekly"),
        ("snapshot", "web 1589000000 (nyc3) 2.5GB Droplet Snapshot", "web 1589000000"),
        ("volume", "acme-data (100 GiB)", "acme-data"),
        ("load_balancer", "acme-lb (lb-small)", "acme-lb"),
        ("floating_ip", "203.0.113.10 (syd1)", "203.0.113.10"),
        ("managed_db", "globex-orders-db (db-s-1vcpu-2gb)", "globex-orders-db"),
        ("k8s_cluster", "prod-cluster (3 nodes)", "prod-cluster"),
        ("droplet", "weird (name) (s-1vcpu-1gb)", "weird (name)"),
        ("droplet", "no size here", ""),
    ],
)
def test_name_extraction(kind, description, name):
    assert extract_resource_name(kind, description) == name


def test_backup_lines_match_their_droplet():
    backup = classify_line("Droplet Backups", "acme-web-1 (Weekly Backup Services)")
    assert (backup.kind, backup.match_kind, backup.resource_name) == (
        "droplet_backup",
        "droplet",
        "acme-web-1",
    )


def test_account_level_and_tax_lines_name_nothing():
    spaces = classify_line("Spaces Subscription", "Spaces Subscription")
    assert (spaces.kind, spaces.account_level, spaces.resource_name) == ("spaces_bucket", True, "")
    tax = classify_line("Taxes", "GST (10%)")
    assert (tax.is_tax, tax.account_level, tax.resource_name) == (True, False, "")


def test_a_spaces_line_naming_a_bucket_is_not_account_level():
    bucket = classify_line("Spaces", "acme-assets (syd1)")
    assert (bucket.account_level, bucket.resource_name) == (False, "acme-assets")


@pytest.mark.parametrize(
    ("product", "description", "kind", "name"),
    [
        # DigitalOcean's own shapes (OpenAPI invoice examples)
        ("Floating IPs", "Unused Floating IP - 1.1.1.1", "floating_ip", "1.1.1.1"),
        ("Reserved IPs", "Unused Reserved IP - 203.0.113.10", "floating_ip", "203.0.113.10"),
        (
            "Reserved IPv6",
            "Unused Reserved IPv6 - 2a03:b0c0:3::1",
            "reserved_ipv6",
            "2a03:b0c0:3::1",
        ),
        ("GPU Droplets", "globex-ml-1 (gpu-h100x1-80gb)", "droplet", "globex-ml-1"),
        ("App Platform", "acme-storefront (apps-s-1vcpu-1gb)", "app", "acme-storefront"),
        ("Container Registry", "arcadia (basic)", "container_registry", "arcadia"),
        ("Custom Images", "acme-golden (syd1) 4GB Custom Image", "custom_image", "acme-golden"),
    ],
)
def test_real_description_shapes(product, description, kind, name):
    line = classify_line(product, description)
    assert (line.kind, line.resource_name, line.account_level) == (kind, name, False)


def test_the_spaces_subscription_is_account_level_whatever_its_description():
    line = classify_line("Spaces Subscription", "Spaces ($5/mo 250GB storage & 1TB bandwidth)")
    assert (line.kind, line.account_level, line.resource_name) == ("spaces_bucket", True, "")


@pytest.mark.parametrize(
    ("product", "group", "description"),
    [
        ("Kubernetes Clusters", "acme-k8s", "a56e086a317d8410c8b4cfd1f4dc9f82"),
        ("Managed Databases", "globex-orders-db", "PostgreSQL node (db-s-1vcpu-2gb)"),
        ("App Platform", "acme-storefront", "web (apps-s-1vcpu-1gb)"),
    ],
)
def test_clusters_and_apps_are_named_by_their_group_description(product, group, description):
    assert classify_line(product, description, group).resource_name == group
