"""What an invoice line is about: its resource kind, whether it is tax, which resource it names.

Pure functions over the line's text (see docs/sandbox.md for the description shapes).

Kinds are derived from the PRODUCT with an ordered phrase table: specific phrases come before
generic ones, so "Droplet Snapshots" is a snapshot and "Droplet Backups" a backup although both
contain "Droplet". A product no phrase knows is `other`.

Tax: a line whose product has no resource kind and whose product or description mentions
"gst" or "tax". A resource product is never tax, so a droplet named `tax-reports` stays a
droplet line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inventory.models import ResourceKind

KIND_OTHER = "other"

# (phrase, kind), checked in order against the lower-cased product. Order matters.
KIND_RULES: tuple[tuple[str, str], ...] = (
    ("droplet snapshot", ResourceKind.SNAPSHOT),
    ("volume snapshot", ResourceKind.SNAPSHOT),
    ("snapshot", ResourceKind.SNAPSHOT),
    ("droplet backup", ResourceKind.DROPLET_BACKUP),
    ("backup", ResourceKind.DROPLET_BACKUP),
    ("droplet", ResourceKind.DROPLET),
    ("spaces", ResourceKind.SPACES_BUCKET),
    ("block storage", ResourceKind.VOLUME),
    ("volume", ResourceKind.VOLUME),
    ("load balancer", ResourceKind.LOAD_BALANCER),
    ("floating ipv6", ResourceKind.RESERVED_IPV6),
    ("reserved ipv6", ResourceKind.RESERVED_IPV6),
    ("floating ip", ResourceKind.FLOATING_IP),
    ("reserved ip", ResourceKind.FLOATING_IP),
    ("managed database", ResourceKind.MANAGED_DB),
    ("database", ResourceKind.MANAGED_DB),
    ("kubernetes", ResourceKind.K8S_CLUSTER),
    ("app platform", ResourceKind.APP),
    ("container registry", ResourceKind.CONTAINER_REGISTRY),
    ("custom image", ResourceKind.CUSTOM_IMAGE),
)
# Kinds whose lines name the resource in `group_description` (the cluster / app) while the
# description names a node or component: `Kubernetes Clusters,acme-k8s,<node>`.
GROUPED_KINDS = frozenset({ResourceKind.K8S_CLUSTER, ResourceKind.MANAGED_DB, ResourceKind.APP})
DERIVED_KINDS: tuple[str, ...] = (*dict.fromkeys(str(kind) for _, kind in KIND_RULES), KIND_OTHER)

TAX_WORDS = ("gst", "tax")

# Inventory kind a line of this kind is matched against: backups are billed to their droplet
# (SPEC §5: "<droplet-name> (Weekly Backup Services)" matches the parent droplet).
MATCH_KIND = {ResourceKind.DROPLET_BACKUP: ResourceKind.DROPLET}

# Kinds inventory knows only from project URNs, where the row's name is the provider id.
PLACEHOLDER_KINDS = frozenset(
    {ResourceKind.SPACES_BUCKET, ResourceKind.MANAGED_DB, ResourceKind.K8S_CLUSTER}
)

# `<snapshot-name> (<region>) <size>GB Droplet Snapshot` / `... Volume Snapshot` /
# `... Custom Image`
_SNAPSHOT_RE = re.compile(
    r"^(?P<name>.+?)\s*\((?P<region>[^()]*)\)\s*[\d.,]+\s*GB\s+"
    r"(?:(?:droplet|volume)\s+snapshot|custom\s+image)$",
    re.IGNORECASE,
)
# `Unused Floating IP - 203.0.113.10`, `Reserved IP - ...`: DO's reserved/floating IP lines.
_IP_LINE_RE = re.compile(
    r"^(?:unused\s+)?(?:floating|reserved)\s+ip(?:v6)?s?\s*-\s*(?P<name>\S+)$", re.IGNORECASE
)
# `<name> (<detail>)`: the last parenthesised group closes the description.
_NAME_DETAIL_RE = re.compile(r"^(?P<name>.+?)\s*\((?P<detail>[^()]*)\)$")


@dataclass(frozen=True)
class LineClass:
    kind: str
    is_tax: bool
    resource_name: str
    account_level: bool

    @property
    def match_kind(self) -> str:
        return str(MATCH_KIND.get(self.kind, self.kind))


def derive_kind(product: str) -> str:
    text = " ".join(product.lower().split())
    for phrase, kind in KIND_RULES:
        if phrase in text:
            return str(kind)
    return KIND_OTHER


def is_tax_line(product: str, description: str, *, kind: str) -> bool:
    if kind != KIND_OTHER:
        return False
    text = f"{product} {description}".lower()
    return any(word in text for word in TAX_WORDS)


def is_account_level(product: str, description: str, kind: str) -> bool:
    """A charge for the account, not for one resource: the description only repeats the
    product, the Spaces subscription (`Spaces ($5/mo 250GB storage & 1TB bandwidth)`, one per
    account whatever the buckets), or a Spaces line naming no bucket."""
    if " ".join(description.lower().split()) == " ".join(product.lower().split()):
        return True
    if kind == ResourceKind.SPACES_BUCKET and "subscription" in product.lower():
        return True
    return kind == ResourceKind.SPACES_BUCKET and not _NAME_DETAIL_RE.match(description.strip())


def extract_resource_name(kind: str, description: str) -> str:
    """The resource named by a description, or "" when its shape names none.

    - snapshots: `acme-web-1-nightly (syd1) 16GB Droplet Snapshot` → `acme-web-1-nightly`;
    - everything else: `acme-web-1 (s-1vcpu-2gb)`, `acme-data (100 GiB)`,
      `acme-web-1 (Weekly Backup Services)` (the parent droplet), `203.0.113.10 (syd1)`;
    - reserved / floating IPs as DO writes them: `Unused Floating IP - 203.0.113.10`.
    """
    text = description.strip()
    if kind in (ResourceKind.FLOATING_IP, ResourceKind.RESERVED_IPV6):
        match = _IP_LINE_RE.match(text)
        if match:
            return match["name"]
    if kind in (ResourceKind.SNAPSHOT, ResourceKind.CUSTOM_IMAGE):
        match = _SNAPSHOT_RE.match(text)
        if match:
            return match["name"].strip()
    match = _NAME_DETAIL_RE.match(text)
    return match["name"].strip() if match else ""


def classify_line(product: str, description: str, group_description: str = "") -> LineClass:
    kind = derive_kind(product)
    tax = is_tax_line(product, description, kind=kind)
    account_level = not tax and is_account_level(product, description, kind)
    if tax or account_level or kind == KIND_OTHER:
        name = ""
    elif kind in GROUPED_KINDS and group_description.strip():
        name = group_description.strip()
    else:
        name = extract_resource_name(kind, description)
    return LineClass(kind=kind, is_tax=tax, resource_name=name, account_level=account_level)


# Billing insights (daily COGS) name no product, only a SKU: `1-DO-DROP-0109`,
# `1-KS-K8SWN-00109`. Its family (the letters after the leading digit) stands for the invoice
# product the same charge carries, so a data point is classified and matched exactly like an
# invoice line. A family not listed keeps the SKU as its product: kind `other`, unmatched with
# its reason, never guessed (docs/decisions.md, issue 18).
SKU_FAMILY_PRODUCTS: dict[str, str] = {
    "DO-DROP": "Droplets",
    "DO-GPU": "GPU Droplets",
    "DO-BKUP": "Droplet Backups",
    "DO-SNAP": "Droplet Snapshots",
    "DO-VSNAP": "Volume Snapshots",
    "DO-VOL": "Volumes",
    "DO-LB": "Load Balancers",
    "DO-FIP": "Floating IPs",
    "DO-RIPV6": "Reserved IPv6",
    "DO-DBAAS": "Managed Databases",
    "KS-K8SWN": "Kubernetes Clusters",
    "DO-APP": "App Platform",
    "DO-DOCR": "Container Registry",
    "DO-SPACES": "Spaces Subscription",
    "DO-IMG": "Custom Images",
}
_SKU_RE = re.compile(r"^\d+-(?P<family>[A-Z0-9]+-[A-Z0-9]+)-[A-Z0-9]+$")


def product_for_sku(sku: str) -> str:
    """The invoice product a billing-insights SKU stands for, else the SKU itself."""
    match = _SKU_RE.match(sku.strip().upper())
    return SKU_FAMILY_PRODUCTS.get(match["family"], sku) if match else sku
