"""Sync jobs: list → normalize → upsert → mark_stale, one function per kind.

A listing either completes (every page) or raises; strikes are only added after a complete one,
so a flaky API never deletes inventory. A second sync of the same kind while one runs skips.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils import timezone

from integrations.digitalocean import DigitalOceanClient, DOBadPayload, DOBudgetExhausted
from inventory import normalize
from inventory.locks import sync_lock
from inventory.models import PROVIDER_DIGITALOCEAN, CloudProject, CloudResource, ResourceKind
from inventory.services import (
    AttributionResult,
    Placement,
    StaleResult,
    UpsertResult,
    mark_stale,
    projects_upsert,
    resources_attribute,
    sync_status_record,
    upsert_resources,
)
from pricing import kinds

logger = logging.getLogger(__name__)

INTERNAL_PROJECT_NAME = "skyai-internal"
INTERNAL_TENANT_ID = "skyai-internal"
PROJECTS = "projects"
# Project-resource statuses saying the resource behind the URN no longer exists.
GONE_RESOURCE_STATUSES = frozenset({"not_found"})
BACKUPS = "backups"

# Kinds with a dedicated listing; everything else is known only through project resources.
LISTERS: dict[str, Callable[[DigitalOceanClient], list[dict]]] = {
    ResourceKind.DROPLET: lambda c: c.list_droplets(),
    ResourceKind.DNS_ZONE: lambda c: c.list_domains(),
    ResourceKind.VOLUME: lambda c: c.list_volumes(),
    ResourceKind.SNAPSHOT: lambda c: c.list_snapshots(),
    ResourceKind.FLOATING_IP: lambda c: c.list_reserved_ips(),
    ResourceKind.FIREWALL: lambda c: c.list_firewalls(),
    ResourceKind.LOAD_BALANCER: lambda c: c.list_load_balancers(),
    ResourceKind.MANAGED_DB: lambda c: c.list_databases(),
    ResourceKind.K8S_CLUSTER: lambda c: c.list_kubernetes_clusters(),
    ResourceKind.APP: lambda c: c.list_apps(),
    ResourceKind.CONTAINER_REGISTRY: lambda c: c.list_registries(),
    ResourceKind.CUSTOM_IMAGE: lambda c: [
        image
        for image in c.list_private_images()
        if not isinstance(image, dict) or image.get("type") == "custom"
    ],
    ResourceKind.RESERVED_IPV6: lambda c: c.list_reserved_ipv6(),
}
DEDICATED_KINDS = frozenset({*LISTERS, ResourceKind.DROPLET_BACKUP})
# Kinds DigitalOcean places in projects: when no project lists one, it is an orphan.
PROJECT_KINDS = frozenset(
    {
        ResourceKind.DROPLET,
        ResourceKind.DNS_ZONE,
        ResourceKind.VOLUME,
        ResourceKind.FLOATING_IP,
        ResourceKind.LOAD_BALANCER,
        ResourceKind.SPACES_BUCKET,
        ResourceKind.MANAGED_DB,
        ResourceKind.K8S_CLUSTER,
        ResourceKind.APP,
        # Account-level or in no project: skyai-internal unless a project lists them.
        ResourceKind.CONTAINER_REGISTRY,
        ResourceKind.CUSTOM_IMAGE,
    }
)
# Kinds whose payload names their project (`project_id`) where project resources do not list
# them (App Platform apps have no URN kind DigitalOcean lists).
PROJECT_ID_KINDS = frozenset({ResourceKind.APP, ResourceKind.MANAGED_DB})
# A droplet tagged `k8s:<cluster-id>` is a Kubernetes worker: it belongs to its cluster.
K8S_WORKER_TAG_PREFIX = kinds.K8S_WORKER_TAG_PREFIX
SYNC_TARGETS = (*LISTERS, BACKUPS, PROJECTS)
# A snapshot's `resource_type` -> the kind of the resource whose project it takes.
SNAPSHOT_OF = {"droplet": ResourceKind.DROPLET, "volume": ResourceKind.VOLUME}


@dataclass
class SyncResult:
    target: str
    skipped: str = ""
    upsert: UpsertResult = field(default_factory=UpsertResult)
    stale: StaleResult = field(default_factory=StaleResult)
    attribution: AttributionResult | None = None
    listed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.target}: skipped ({self.skipped})"
        u, s = self.upsert, self.stale
        text = (
            f"{self.target}: {self.listed} listed, {u.created} new, {u.updated} updated, "
            f"{u.restored} restored, {u.unchanged} unchanged, {s.struck} struck, "
            f"{s.tombstoned} tombstoned"
        )
        if self.attribution is not None:
            text += f", {self.attribution.attributed} attributed"
        return text


# The field that identifies an item of each listing (what its URN and our provider_id end in).
ID_FIELDS = {
    ResourceKind.DNS_ZONE: "name",
    ResourceKind.FLOATING_IP: "ip",
    ResourceKind.RESERVED_IPV6: "ip",
    ResourceKind.CONTAINER_REGISTRY: "name",
}


def _normalized(
    kind: str, payloads: list[dict]
) -> tuple[list[normalize.ResourceSnapshot], list[str] | None]:
    """The listing's snapshots, and the ids of items that could not be read (logged, skipped,
    never struck): None when one had no id at all, so nothing may be struck this run."""
    normalizer = normalize.NORMALIZERS[kind]
    id_field = ID_FIELDS.get(kind, "id")
    snapshots, unreadable = [], []
    anonymous = False
    for payload in payloads:
        try:
            snapshots.append(normalizer(payload))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raw_id = payload.get(id_field) if isinstance(payload, dict) else None
            logger.warning(
                "%s listing: item %r is not what DigitalOcean's API describes (%r): skipped",
                kind,
                raw_id,
                exc,
            )
            if raw_id in (None, ""):
                anonymous = True
            else:
                unreadable.append(str(raw_id))
    return snapshots, None if anonymous else unreadable


def sync_target(
    target: str,
    *,
    client: DigitalOceanClient,
    now: dt.datetime | None = None,
    provisioning_client: DigitalOceanClient | None = None,
) -> SyncResult:
    """Run one sync (a kind, `backups` or `projects`) unless another run of it holds the lock.

    `provisioning_client` (write scope) creates the skyai-internal project when it is missing;
    without one the sync client is used.
    """
    if target not in SYNC_TARGETS:
        raise ValueError(
            f"unknown sync target {target!r}; expected one of {', '.join(SYNC_TARGETS)}"
        )
    now = now or timezone.now()
    with sync_lock(target) as acquired:
        if not acquired:
            logger.info("inventory sync %s skipped: another run holds the lock", target)
            return SyncResult(target, skipped="another sync of it is running")
        try:
            if target == PROJECTS:
                result = _sync_projects(client, now, creator=provisioning_client or client)
            elif target == BACKUPS:
                result = _sync_backups(client, now)
            else:
                result = _sync_kind(target, client, now)
        except DOBudgetExhausted as exc:
            # The token's rate budget is spent: the next scheduled run does this work. A
            # listing that did not complete strikes nothing.
            logger.warning("inventory sync %s deferred: %s", target, exc)
            return SyncResult(target, skipped=f"deferred: {exc}")
        except Exception as exc:
            # Metering reads it: a day metered while this fails says so (`skipped`).
            sync_status_record(target=target, now=now, error=f"{type(exc).__name__}: {exc}")
            raise
        sync_status_record(target=target, now=now)
        return result


def _sync_kind(kind: str, client: DigitalOceanClient, now: dt.datetime) -> SyncResult:
    snapshots, unreadable = _normalized(kind, LISTERS[kind](client))  # complete, or it raised
    result = SyncResult(kind, listed=len(snapshots))
    result.upsert = upsert_resources(snapshots, now=now)
    if unreadable is not None:  # an item without an id: its row cannot be told from a gone one
        result.stale = mark_stale(
            kind=kind, seen_provider_ids=[s.provider_id for s in snapshots] + unreadable, now=now
        )
    return result


def _sync_backups(client: DigitalOceanClient, now: dt.datetime) -> SyncResult:
    """Droplet backups from ONE paginated listing of the account's images (`type: backup`),
    each tied to its droplet by the droplet's `backup_ids`; no request at all when no droplet
    has backups. (Asking every droplet for its backups costs one request per droplet an hour,
    beyond DigitalOcean's rate limits past a few thousand droplets.)"""
    owner_of: dict[str, str] = {}
    any_backups = False
    for droplet_id, attrs in CloudResource.objects.filter(
        provider=PROVIDER_DIGITALOCEAN, kind=ResourceKind.DROPLET, deleted_at__isnull=True
    ).values_list("provider_id", "attrs"):
        attrs = attrs or {}
        backup_ids = attrs.get("backup_ids") or []
        any_backups = any_backups or bool(backup_ids) or bool(attrs.get("backups_enabled"))
        for backup_id in backup_ids:
            owner_of[str(backup_id)] = droplet_id
    known_owner = {
        provider_id: str((attrs or {}).get("droplet_id") or "")
        for provider_id, attrs in CloudResource.objects.filter(
            provider=PROVIDER_DIGITALOCEAN,
            kind=ResourceKind.DROPLET_BACKUP,
            deleted_at__isnull=True,
        ).values_list("provider_id", "attrs")
    }
    images = client.list_private_images() if any_backups or known_owner else []
    snapshots = []
    unplaced: list[str] = []
    for image in images:
        if not isinstance(image, dict) or image.get("type") != "backup":
            continue
        backup_id = str(image.get("id") or "")
        droplet_id = owner_of.get(backup_id) or known_owner.get(backup_id)
        if not droplet_id:
            # Taken after the droplets were last synced: the next run knows its droplet.
            logger.info("backup %s belongs to no droplet inventory knows yet: next run", backup_id)
            unplaced.append(backup_id)
            continue
        try:
            snapshots.append(normalize.droplet_backup(image, droplet_id=droplet_id))
        except (KeyError, TypeError) as exc:
            raise DOBadPayload(f"backup {backup_id} is malformed: {exc!r}") from exc
    result = SyncResult(BACKUPS, listed=len(snapshots))
    result.upsert = upsert_resources(snapshots, now=now)
    result.stale = mark_stale(
        kind=ResourceKind.DROPLET_BACKUP,
        # A backup listed but not yet placed is not missing: never strike it.
        seen_provider_ids=[s.provider_id for s in snapshots] + unplaced,
        now=now,
    )
    return result


def _ensure_internal_project(creator: DigitalOceanClient, projects: list[dict]) -> list[dict]:
    if any(p.get("name") == INTERNAL_PROJECT_NAME for p in projects):
        return projects
    logger.info(
        "creating the %s DigitalOcean project (fallback home of orphans)", INTERNAL_PROJECT_NAME
    )
    created = creator.create_project(
        name=INTERNAL_PROJECT_NAME,
        purpose="Operational / Developer tooling",
        description="Arcadia Cloud internal resources and the fallback home of orphans",
    )
    return [*projects, created]


def _sync_projects(
    client: DigitalOceanClient, now: dt.datetime, *, creator: DigitalOceanClient
) -> SyncResult:
    """Projects, then every project's resources: attribution, placeholders, orphans."""
    payloads = _ensure_internal_project(creator, client.list_projects())
    urns_by_project = {str(p["id"]): client.list_project_resources(str(p["id"])) for p in payloads}
    projects = projects_upsert(
        payloads, internal_name=INTERNAL_PROJECT_NAME, internal_tenant=INTERNAL_TENANT_ID
    )

    located: dict[tuple[str, str], CloudProject] = {}
    placeholders: list[normalize.ResourceSnapshot] = []
    for provider_id, items in urns_by_project.items():
        for item in items:
            try:
                urn = normalize.parse_urn(item.get("urn", ""))
            except ValueError:
                logger.warning("project %s lists a malformed URN %r: ignored", provider_id, item)
                continue
            if item.get("status") in GONE_RESOURCE_STATUSES:
                # DO still lists the assignment but no longer finds the resource: it proves
                # neither existence (no placeholder) nor placement.
                logger.info("project %s lists %s as %s: ignored", provider_id, urn, item["status"])
                continue
            located[(urn.kind, urn.provider_id)] = projects[provider_id]
            if urn.kind not in DEDICATED_KINDS:
                placeholders.append(normalize.placeholder(urn))

    result = SyncResult(PROJECTS, listed=len(located))
    result.upsert = upsert_resources(placeholders, now=now)
    for kind in {p.kind for p in placeholders} | _placeholder_kinds_in_inventory():
        seen = [p.provider_id for p in placeholders if p.kind == kind]
        stale = mark_stale(kind=kind, seen_provider_ids=seen, now=now)
        result.stale.struck += stale.struck
        result.stale.tombstoned += stale.tombstoned

    internal = next(p for p in projects.values() if p.name == INTERNAL_PROJECT_NAME)
    result.attribution = resources_attribute(_placements(located, internal, projects), now=now)
    return result


def _placeholder_kinds_in_inventory() -> set[str]:
    return set(
        CloudResource.objects.filter(provider=PROVIDER_DIGITALOCEAN, deleted_at__isnull=True)
        .exclude(kind__in=DEDICATED_KINDS)
        .values_list("kind", flat=True)
        .distinct()
    )


def _placements(
    located: dict[tuple[str, str], CloudProject],
    internal: CloudProject,
    projects: dict[str, CloudProject],
) -> dict[int, Placement]:
    """Project resources → their project (or the project their payload names); backups and
    snapshots → their droplet's or volume's (DigitalOcean lists no snapshot in a project);
    Kubernetes workers → their cluster's; a reserved IPv6 → its droplet's; orphans →
    skyai-internal."""
    placements: dict[int, Placement] = {}
    live = CloudResource.objects.filter(
        provider=PROVIDER_DIGITALOCEAN, deleted_at__isnull=True
    ).values_list("pk", "kind", "provider_id", "attrs")
    parents: dict[tuple[str, str], Placement] = {}
    derived: list[tuple[int, str, str]] = []  # (pk, parent kind, parent provider id)
    for pk, kind, provider_id, attrs in live:
        project = located.get((kind, provider_id))
        attrs = attrs or {}
        named = (
            projects.get(str(attrs.get("project_id") or "")) if kind in PROJECT_ID_KINDS else None
        )
        if kind == ResourceKind.DROPLET:
            cluster = kubernetes_cluster_of(attrs)
            if cluster:
                derived.append((pk, ResourceKind.K8S_CLUSTER, cluster))
        if project is not None:
            placement = Placement(project, project.tenant_id, f"listed in project {project.name}")
        elif named is not None:
            placement = Placement(named, named.tenant_id, f"its project_id names {named.name}")
        elif kind in PROJECT_KINDS:
            placement = Placement(internal, internal.tenant_id, "orphan: in no project")
        else:
            if kind == ResourceKind.DROPLET_BACKUP:
                derived.append((pk, ResourceKind.DROPLET, str(attrs.get("droplet_id") or "")))
            elif kind == ResourceKind.SNAPSHOT and attrs.get("resource_type") in SNAPSHOT_OF:
                parent_kind = SNAPSHOT_OF[str(attrs["resource_type"])]
                derived.append((pk, parent_kind, str(attrs.get("resource_id") or "")))
            elif kind == ResourceKind.RESERVED_IPV6:
                droplet_id = str(attrs.get("droplet_id") or "")
                if droplet_id:
                    derived.append((pk, ResourceKind.DROPLET, droplet_id))
                else:
                    placements[pk] = Placement(internal, internal.tenant_id, "unassigned")
            continue
        placements[pk] = placement
        if kind in (ResourceKind.DROPLET, ResourceKind.VOLUME, ResourceKind.K8S_CLUSTER):
            parents[(str(kind), provider_id)] = placement
    # Clusters first: a worker's place decides its snapshots' and its IPs'.
    derived.sort(key=lambda entry: entry[1] != ResourceKind.K8S_CLUSTER)
    worker_of = {}
    for pk, parent_kind, parent_id in derived:
        parent = parents.get((str(parent_kind), parent_id))
        if parent is None:
            continue
        label = str(parent_kind).replace("_", " ")
        placement = Placement(parent.project, parent.tenant_id, f"of {label} {parent_id}")
        placements[pk] = placement
        if parent_kind == ResourceKind.K8S_CLUSTER:
            worker_of[pk] = placement
    if worker_of:
        ids = dict(
            CloudResource.objects.filter(pk__in=list(worker_of)).values_list("pk", "provider_id")
        )
        for pk, placement in worker_of.items():
            parents[(str(ResourceKind.DROPLET), ids[pk])] = placement
        for pk, parent_kind, parent_id in derived:
            if parent_kind == ResourceKind.DROPLET and (str(parent_kind), parent_id) in parents:
                parent = parents[(str(parent_kind), parent_id)]
                placements[pk] = Placement(
                    parent.project, parent.tenant_id, f"of droplet {parent_id}"
                )
    return placements


def kubernetes_cluster_of(attrs: dict) -> str:
    """The cluster id of a Kubernetes worker droplet (its `k8s:<cluster-id>` tag), else ""."""
    for tag in attrs.get("tags") or []:
        if isinstance(tag, str) and tag.startswith(K8S_WORKER_TAG_PREFIX):
            return tag[len(K8S_WORKER_TAG_PREFIX) :]
    return ""


def sync_all(*, client: DigitalOceanClient, now: dt.datetime | None = None) -> list[SyncResult]:
    """Every kind, then backups, then projects (attribution needs the resources present)."""
    now = now or timezone.now()
    return [sync_target(target, client=client, now=now) for target in SYNC_TARGETS]
