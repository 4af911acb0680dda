"""Inventory reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Mod

from arcadia_cloud.lookups import AnyOfSubquery
from arcadia_cloud.sql import KeysetPage, json_value, page_rows, utc_timestamp_text
from inventory.models import (
    CloudProject,
    CloudResource,
    CloudResourceEvent,
    CloudResourceHistory,
    MeasurementStatus,
    ResourceMeasurement,
    SyncStatus,
)

# The owner of a resource whose deployment no longer exists: nobody a tenant may be told about.
_UNKNOWN_OWNER = object()


def resources_with_effective_tenant() -> QuerySet[CloudResource]:
    """Resources annotated with `effective_tenant_id`: the deployment's tenant, else their own.

    The deployment's tenant is a correlated subquery on its primary key, evaluated for the rows
    a page returns, not a join: joined, PostgreSQL hashed all 10,000 deployments for a tenant's
    page of 20 resources (7 ms a request, docs/performance.md)."""
    deployment_tenant = (
        _deployments().filter(pk=OuterRef("deployment_id")).order_by().values("tenant_id")[:1]
    )
    return CloudResource.objects.select_related("project", "deployment").annotate(
        effective_tenant_id=Coalesce(Subquery(deployment_tenant), "tenant_id")
    )


def owned_by_tenant(queryset: QuerySet[CloudResource], tenant_id: str) -> QuerySet[CloudResource]:
    """Rows whose effective tenant is `tenant_id`: attached to one of its deployments, or to no
    deployment and its own tenant.

    The tenant's deployment ids are read first, inside the same query, as an array
    (`deployment_id = ANY(ARRAY(SELECT id … WHERE tenant_id = t))`, arcadia_cloud.lookups.
    AnyOfSubquery) so that both alternatives are conditions on this table's own indexed columns
    (deployment_id, tenant_id), which PostgreSQL answers with two index scans ORed together.
    Written as one join instead (`deployment.tenant_id = t OR …`), or with `IN (SELECT …)`, the
    OR spans a second table and every tenant's list scanned the whole inventory
    (docs/performance.md).
    """
    deployment_ids = _deployments().filter(tenant_id=tenant_id).order_by().values("pk")
    return queryset.filter(
        Q(AnyOfSubquery(F("deployment_id"), deployment_ids))
        | Q(deployment__isnull=True, tenant_id=tenant_id)
    )


# The inventory list's page as hand-written SQL (arcadia_cloud.sql): the columns of the API's
# list item, named as `values()` names them on `resources_with_effective_tenant()`. A tenant's
# rows are all its own (that is the condition that picks them), so its effective tenant is the
# viewer, a parameter; for an admin it is read as `resources_with_effective_tenant` reads it.
_RESOURCE_PAGE_SELECT = """
SELECT cloud_resources.id, cloud_resources.provider, cloud_resources.kind,
       cloud_resources.provider_id, cloud_resources.name, cloud_resources.region,
       cloud_resources.size_slug, cloud_resources.status, cloud_resources.attrs,
       {effective_tenant} AS effective_tenant_id,
       cloud_resources.project_id, cloud_projects.name AS project__name,
       cloud_projects.tenant_id AS project__tenant_id, cloud_resources.deployment_id,
       {first_seen_at} AS first_seen_at, {last_seen_at} AS last_seen_at,
       cloud_resources.stale_strike_count, {deleted_at} AS deleted_at
FROM cloud_resources
LEFT JOIN cloud_projects ON cloud_projects.id = cloud_resources.project_id"""

_EFFECTIVE_TENANT = """COALESCE(
           (SELECT d.tenant_id FROM cloud_deployments d WHERE d.id = cloud_resources.deployment_id),
           cloud_resources.tenant_id
       )"""

_TIMESTAMPS = {
    name: utc_timestamp_text(f"cloud_resources.{name}")
    for name in ("first_seen_at", "last_seen_at", "deleted_at")
}
_TENANT_PAGE_SELECT = _RESOURCE_PAGE_SELECT.format(effective_tenant="%s::text", **_TIMESTAMPS)
_ADMIN_PAGE_SELECT = _RESOURCE_PAGE_SELECT.format(effective_tenant=_EFFECTIVE_TENANT, **_TIMESTAMPS)

# `owned_by_tenant` in SQL: the tenant's deployments read first as an array (see there).
_OWNED_BY_TENANT = """(cloud_resources.deployment_id = ANY(ARRAY(
    SELECT id FROM cloud_deployments WHERE tenant_id = %s))
 OR (cloud_resources.deployment_id IS NULL AND cloud_resources.tenant_id = %s))"""


def resource_page_rows(
    *,
    viewer_tenant_id: str | None,
    page: KeysetPage,
    kind: str | None = None,
    project_id: int | None = None,
    deployment_id: int | None = None,
    tenant_id: str | None = None,
    include_deleted: bool = False,
) -> list[dict]:
    """A page of the inventory list, read by one hand-written statement (PostgreSQL): what
    `owned_by_tenant(resources_with_effective_tenant(), viewer)` (every row for an admin,
    viewer None) gives with the list's filters, as `values()` rows, except that the timestamps
    come as the text the API prints (`utc_timestamp_text`). `tenant_id` filters an admin's list
    by effective tenant; a tenant's project filter only matches a project that is
    unclassified or its own (the API's ResourceFilter). The deployments' table is named here,
    as the ORM form reaches it through the foreign key (inventory does not import that app).
    Held equal to the ORM form by tests/test_hand_sql_pages.py."""
    conditions: list[tuple[str, list]] = []
    if viewer_tenant_id is not None:
        select = _TENANT_PAGE_SELECT
        select_params = [viewer_tenant_id]
        conditions.append((_OWNED_BY_TENANT, [viewer_tenant_id, viewer_tenant_id]))
    else:
        select = _ADMIN_PAGE_SELECT
        select_params = []
    if viewer_tenant_id is None and tenant_id:
        conditions.append((_OWNED_BY_TENANT, [tenant_id, tenant_id]))
    if not include_deleted:
        conditions.append(("cloud_resources.deleted_at IS NULL", []))
    if kind:
        conditions.append(("cloud_resources.kind = %s", [kind]))
    if deployment_id is not None:
        conditions.append(("cloud_resources.deployment_id = %s", [deployment_id]))
    if project_id is not None:
        conditions.append(("cloud_resources.project_id = %s", [project_id]))
        if viewer_tenant_id is not None:
            visible = "(cloud_projects.tenant_id IS NULL OR cloud_projects.tenant_id = %s)"
            conditions.append((visible, [viewer_tenant_id]))
    rows = page_rows(select, conditions, page, select_params=select_params)
    for row in rows:
        row["attrs"] = json_value(row["attrs"])
    return rows


def project_visible_to(project: CloudProject | None, viewer_tenant_id: str | None) -> bool:
    """Whether a caller may see the resource's project: admins (viewer None) always; a tenant
    unless the project is classified to another tenant (a resource an operator moved to this
    tenant's deployment may still sit in the previous tenant's DigitalOcean project)."""
    return project is not None and project_tenant_visible_to(project.tenant_id, viewer_tenant_id)


def project_tenant_visible_to(project_tenant_id: str | None, viewer_tenant_id: str | None) -> bool:
    """`project_visible_to` for a project known by its tenant id (a `values()` row)."""
    return viewer_tenant_id is None or project_tenant_id in (None, viewer_tenant_id)


def resource_history(
    resource: CloudResource, *, viewer_tenant_id: str | None
) -> list[CloudResourceEvent]:
    """The resource's events, oldest first, as the caller may see them.

    A platform admin (`viewer_tenant_id` None) sees every event. A tenant reads the history
    from the moment the resource last came to them from another tenant — all of it when no
    other tenant ever held it — and of that, no event naming another tenant's deployment,
    project or tenant id (docs/decisions.md, Inventory). So after an operator moves a resource
    from tenant A to tenant B, B reads what happened after the move (the move itself names A's
    deployment and is not shown), and A no longer reads the resource at all.

    Who held the resource at each event is recovered from its current attribution walking back
    through the old values its `attributed` events record (`deployment`, `tenant_id`), so no
    history table is needed. Three queries whatever the number of events: the events, the
    tenants of the deployments they name, the tenants of the projects they name.
    """
    events = list(
        CloudResourceEvent.objects.filter(resource_id=resource.pk).order_by("occurred_at", "id")
    )
    if viewer_tenant_id is None:
        return events
    changes = [_attribution_changes(event) for event in events]
    deployment_ids = {resource.deployment_id} | {
        value for change in changes for value in change.get("deployment", ())
    }
    project_ids = {value for change in changes for value in change.get("project", ())}
    deployments = _deployment_tenants(pk for pk in deployment_ids if isinstance(pk, int))
    projects = _project_tenants(pk for pk in project_ids if isinstance(pk, int))

    def owner(deployment_id: object, tenant_id: object) -> object:
        if deployment_id is None:
            return tenant_id
        return deployments.get(deployment_id, _UNKNOWN_OWNER)

    def foreign(owner_id: object) -> bool:
        return owner_id is not None and owner_id != viewer_tenant_id

    visible: list[CloudResourceEvent] = []
    deployment_id, tenant_id = resource.deployment_id, resource.tenant_id
    for event, change in zip(reversed(events), reversed(changes), strict=True):
        after = owner(deployment_id, tenant_id)
        deployment_id = change["deployment"][0] if "deployment" in change else deployment_id
        tenant_id = change["tenant_id"][0] if "tenant_id" in change else tenant_id
        before = owner(deployment_id, tenant_id)
        if foreign(before) or foreign(after):
            break  # another tenant held it here: this event and everything earlier are theirs
        names_another_tenant = (
            any(foreign(owner(pk, None)) for pk in change.get("deployment", ()) if pk is not None)
            or any(
                foreign(projects.get(pk, _UNKNOWN_OWNER))
                for pk in change.get("project", ())
                if pk is not None
            )
            or any(foreign(value) for value in change.get("tenant_id", ()))
        )
        if not names_another_tenant:
            visible.append(event)
    visible.reverse()
    return visible


def _attribution_changes(event: CloudResourceEvent) -> dict[str, Sequence[object]]:
    """The [old, new] pairs of the ownership fields an event records (attribution writes them
    as `deployment`, `project` and `tenant_id`); any other shape is not an ownership change."""
    changes = event.changes if isinstance(event.changes, dict) else {}
    return {
        name: pair
        for name in ("deployment", "project", "tenant_id")
        if isinstance(pair := changes.get(name), list) and len(pair) == 2
    }


def _deployments() -> QuerySet:
    """The deployments resources are attached to, read through the foreign key that ties them.

    Inventory is a floor below the deployments app and never imports it: of a deployment it
    needs only whose it is (`tenant_id`, never changed after creation), the same column
    `resources_with_effective_tenant` reads through the join.
    """
    return CloudResource._meta.get_field("deployment").related_model._default_manager.all()


def _deployment_tenants(deployment_ids) -> dict[int, str]:
    """{deployment id: its tenant id} for the ids that exist, in one query (a deployment's tenant
    never changes, so this is also who owned it at any earlier time)."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    return dict(_deployments().filter(pk__in=ids).values_list("pk", "tenant_id"))


def _project_tenants(project_ids) -> dict[int, str | None]:
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    return dict(CloudProject.objects.filter(pk__in=ids).values_list("pk", "tenant_id"))


# ---------------------------------------------------------------------------------------------
# What metering reads
# ---------------------------------------------------------------------------------------------

# The columns `attributed_history_sql` selects and `attributed_intervals` returns, in order.
HISTORY_COLUMNS = (
    "resource_id",
    "deployment_id",
    "kind",
    "status",
    "size",
    "valid_from",
    "valid_to",
    "size_slug",
)


def _attributed_history(*, start: dt.datetime, end: dt.datetime) -> QuerySet:
    return CloudResourceHistory.objects.filter(deployment__isnull=False, valid_from__lt=end).filter(
        Q(valid_to__isnull=True) | (Q(valid_to__gt=start) & Q(valid_to__gt=F("valid_from")))
    )


def attributed_intervals(
    *, start: dt.datetime, end: dt.datetime, kinds: Sequence[str]
) -> list[tuple]:
    """The billed-history intervals overlapping [start, end) of resources attributed to a
    deployment then, of these registry kinds, as HISTORY_COLUMNS tuples (empty intervals left
    out), in one query."""
    return list(
        _attributed_history(start=start, end=end)
        .filter(kind__in=list(kinds))
        .order_by("resource_id", "valid_from")
        .values_list(*HISTORY_COLUMNS)
    )


def attributed_resource_counts(
    *, start: dt.datetime, end: dt.datetime, kinds: Sequence[str]
) -> dict[str, int]:
    """How many resources of each of these kinds were attributed to a deployment at some moment
    of [start, end), in one query (what metering skips while their sync is failing)."""
    rows = (
        _attributed_history(start=start, end=end)
        .filter(kind__in=list(kinds))
        .values("kind")
        .annotate(resources=Count("resource_id", distinct=True))
        .values_list("kind", "resources")
    )
    return dict(rows)


# The sync target whose listing observes a kind the history records (`pricing.kinds.billed_as`);
# every other kind is listed by the target of its own name.
SYNC_TARGET_OF_KIND = {
    "gpu_droplet": "droplet",
    "k8s_worker": "droplet",
    "droplet_backup": "backups",
}
SYNC_FAILING = "sync_failing"


def sync_failing_kinds(*, kinds: Sequence[str], until: dt.datetime) -> dict[str, str]:
    """kind → SYNC_FAILING for the kinds whose sync's last run failed and that no run has
    listed successfully since `until`: what the history holds of them after their last
    successful sync is unobserved (docs/decisions.md). A kind never synced (no status row) is
    not failing."""
    targets = {kind: SYNC_TARGET_OF_KIND.get(kind, kind) for kind in kinds}
    statuses = {s.target: s for s in SyncStatus.objects.filter(target__in=set(targets.values()))}
    failing = {}
    for kind, target in targets.items():
        status = statuses.get(target)
        if status is None or not status.failing:
            continue
        if status.last_succeeded_at is None or status.last_succeeded_at < until:
            failing[kind] = SYNC_FAILING
    return failing


def sync_failed_since(moment: dt.datetime) -> bool:
    """Whether any sync target's last failure happened at or after `moment`."""
    return SyncStatus.objects.filter(last_failed_at__gte=moment).exists()


def attributed_history_sql(
    *, start: dt.datetime, end: dt.datetime
) -> tuple[str, dict[str, object]]:
    """The intervals of `attributed_intervals` (any kind) as a SELECT of HISTORY_COLUMNS with
    named parameters, for metering's set-based INSERT … SELECT (one statement whatever the
    number of resources)."""
    table = CloudResourceHistory._meta.db_table
    sql = (
        f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {table} "  # noqa: S608
        "WHERE deployment_id IS NOT NULL AND valid_from < %(history_until)s "
        "AND (valid_to IS NULL OR (valid_to > %(history_from)s AND valid_to > valid_from))"
    )
    return sql, {"history_from": start, "history_until": end}


def resources_to_measure(*, kind: str, metric: str, day: dt.date) -> QuerySet[CloudResource]:
    """Resources of `kind` that existed at some moment of `day` (UTC) and have no complete
    `metric` measurement of it yet (partial and failed ones are measured again)."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    measured = ResourceMeasurement.objects.filter(
        day=day, metric=metric, status=MeasurementStatus.COMPLETE
    ).values("resource_id")
    return (
        CloudResource.objects.filter(kind=kind, first_seen_at__lt=end)
        .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gte=start))
        .exclude(pk__in=measured)
        .order_by("pk")
    )


def resources_due(
    *, kind: str, metric: str, day: dt.date, through_slot: int, slots: int, max_attempts: int
) -> QuerySet[CloudResource]:
    """The resources of `resources_to_measure` whose slot (`pk % slots`) is at most
    `through_slot`, except those whose measurement of the day failed `max_attempts` times."""
    worn_out = ResourceMeasurement.objects.filter(
        day=day, metric=metric, detail__attempts__gte=max_attempts
    ).exclude(status=MeasurementStatus.COMPLETE)
    return (
        resources_to_measure(kind=kind, metric=metric, day=day)
        .alias(slot=Mod(F("pk"), slots))
        .filter(slot__lte=through_slot)
        .exclude(pk__in=worn_out.values("resource_id"))
    )


def measurement_attempts(*, metric: str, day: dt.date) -> dict[int, int]:
    """resource id -> attempts so far of its not-yet-complete `metric` measurement of `day`."""
    return {
        resource_id: int((detail or {}).get("attempts") or 1)
        for resource_id, detail in ResourceMeasurement.objects.filter(day=day, metric=metric)
        .exclude(status=MeasurementStatus.COMPLETE)
        .values_list("resource_id", "detail")
    }


def unmeasured_resources(
    *, kind: str, metric: str, day: dt.date
) -> list[tuple[int, str, str, str | None, str | None]]:
    """(id, provider id, name, last status, last reason) of the resources of `kind` alive on
    `day` without a complete `metric` measurement (status None: never attempted)."""
    last = ResourceMeasurement.objects.filter(resource_id=OuterRef("pk"), day=day, metric=metric)
    return list(
        resources_to_measure(kind=kind, metric=metric, day=day)
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_reason=Subquery(last.values("reason")[:1]),
        )
        .values_list("id", "provider_id", "name", "last_status", "last_reason")
    )


def measurements_of_day(*, day: dt.date, metrics: Sequence[str]) -> QuerySet[ResourceMeasurement]:
    return ResourceMeasurement.objects.filter(day=day, metric__in=list(metrics))
