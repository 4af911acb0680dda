"""Every write to the catalog (SPEC §8).

Row locks are taken through `catalog.locks`, plan row → its version rows: creating, editing and
publishing a version all lock the plan first, so version numbers cannot collide and two
publishes of the same plan run one after the other (exactly one active version at the end,
whichever order they ran). The order across apps: docs/CONVENTIONS.md, "Lock order".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from arcadia_cloud.errors import Conflict, InvalidStateChange, field_error
from arcadia_cloud.validation import FieldError, clean_currency, clean_date, clean_text
from catalog.locks import (
    lock_active_version_of,
    lock_addon,
    lock_plan,
    lock_provider_prices_sync,
    lock_resource_prices_overlapping,
    lock_version,
)
from catalog.models import (
    Addon,
    Plan,
    PlanItem,
    PlanVersion,
    PlanVersionStatus,
    ProviderPrice,
    ResourcePrice,
)
from catalog.provider_prices import ListedPrice
from catalog.selectors import known_size_slugs
from catalog.validation import (
    clean_catalog_qty,
    clean_code,
    clean_kind,
    clean_price_cents,
    clean_unit,
)
from pricing import sizes


@dataclass(frozen=True)
class PlanItemInput:
    """One plan item as a caller describes it; `overage_unit=None` means the kind's default."""

    resource_kind: str
    included_qty: Decimal
    overage_price_cents: int
    overage_unit: str | None = None
    hard_cap_qty: Decimal | None = None
    # Issue 18: the sizes the item covers (size scopes; () every size) and their memory limit.
    allowance_sizes: Sequence[str] = ()
    allowance_max_memory_mb: int | None = None


@dataclass(frozen=True)
class PublishOutcome:
    published: PlanVersion
    retired: PlanVersion | None


# ---------------------------------------------------------------------------------------------
# Plans and versions
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def plan_create(*, code: str, name: str, description: str = "") -> Plan:
    """A new plan with no versions yet (nothing can subscribe to it until one is published)."""
    code = clean_code("code", code)
    name = clean_text("name", name, max_length=200)
    if Plan.objects.filter(code=code).exists():
        raise _duplicate_code("plan", code)
    try:
        with transaction.atomic():
            return Plan.objects.create(code=code, name=name, description=description or "")
    except IntegrityError:
        raise _duplicate_code("plan", code) from None


@transaction.atomic
def plan_version_create(
    *,
    plan: Plan,
    base_price_cents: int,
    currency: str,
    items: Sequence[PlanItemInput],
    actor: str,
) -> PlanVersion:
    """A new DRAFT numbered after the plan's latest version, with its items, in one transaction.

    The plan row is locked so two concurrent creates cannot both pick the same number.
    """
    base_price_cents = clean_price_cents("base_price_cents", base_price_cents)
    currency = clean_currency("currency", currency)
    cleaned = clean_items(items)
    locked = lock_plan(plan.pk)
    latest = locked.versions.aggregate(latest=Max("number"))["latest"] or 0
    version = PlanVersion.objects.create(
        plan=locked,
        number=latest + 1,
        status=PlanVersionStatus.DRAFT,
        base_price_cents=base_price_cents,
        currency=currency,
        created_by=actor,
    )
    PlanItem.objects.bulk_create(_item_rows(version, cleaned))
    return version


@transaction.atomic
def plan_version_update_items(
    *, version: PlanVersion, items: Sequence[PlanItemInput]
) -> PlanVersion:
    """Replace a draft's items. A published version is immutable: 409 naming what to do."""
    cleaned = clean_items(items)
    lock_plan(version.plan_id)
    draft = lock_version(version.pk)
    require_draft(draft)
    PlanItem.objects.filter(version=draft).delete()
    PlanItem.objects.bulk_create(_item_rows(draft, cleaned))
    return draft


@transaction.atomic
def plan_version_publish(*, version: PlanVersion, actor: str) -> PublishOutcome:
    """Activate a draft and retire the plan's active version, atomically.

    Both publishes of a race lock the plan row first; the second sees the first's result and
    retires it, so the plan ends with exactly one active version. Existing subscriptions keep
    the version they are bound to: retiring a version changes nothing for them.
    """
    lock_plan(version.plan_id)
    draft = lock_version(version.pk)
    if draft.status != PlanVersionStatus.DRAFT:
        raise InvalidStateChange(
            f"{draft.plan.code} v{draft.number} is {draft.status}; only a draft can be published",
            extra={"status": draft.status},
        )
    now = timezone.now()
    retired = lock_active_version_of(draft.plan_id)
    if retired is not None:
        retired.status = PlanVersionStatus.RETIRED
        retired.retired_at = now
        retired.save(update_fields=["status", "retired_at", "updated_at"])
    draft.status = PlanVersionStatus.ACTIVE
    draft.published_at = now
    draft.published_by = actor
    draft.save(update_fields=["status", "published_at", "published_by", "updated_at"])
    return PublishOutcome(published=draft, retired=retired)


def require_draft(version: PlanVersion) -> None:
    """409 unless `version` is a draft: published terms never change, a new draft does."""
    if version.status != PlanVersionStatus.DRAFT:
        raise Conflict(
            f"{version.plan.code} v{version.number} is {version.status}: published versions are "
            "immutable; create a new draft version instead",
            code="version_immutable",
        )


def clean_items(items: Sequence[PlanItemInput]) -> list[PlanItemInput]:
    """Validated, normalized items; errors name the item by index (`items[2].overage_unit`)."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise field_error("items", "must be a list of plan items")
    cleaned: list[PlanItemInput] = []
    seen: dict[str, int] = {}
    known = known_size_slugs() if any(item.allowance_sizes for item in items) else []
    for index, item in enumerate(items):
        field = f"items[{index}]"
        kind = clean_kind(f"{field}.resource_kind", item.resource_kind)
        if kind in seen:
            raise field_error(
                f"{field}.resource_kind",
                f"{kind} is already items[{seen[kind]}]; a version has one item per kind",
            )
        seen[kind] = index
        cap = item.hard_cap_qty
        cleaned.append(
            PlanItemInput(
                resource_kind=kind,
                included_qty=clean_catalog_qty(f"{field}.included_qty", item.included_qty),
                overage_price_cents=clean_price_cents(
                    f"{field}.overage_price_cents", item.overage_price_cents
                ),
                overage_unit=clean_unit(f"{field}.overage_unit", item.overage_unit, kind=kind),
                hard_cap_qty=None
                if cap is None
                else clean_catalog_qty(f"{field}.hard_cap_qty", cap),
                allowance_sizes=_clean_allowance_sizes(
                    f"{field}.allowance_sizes", item.allowance_sizes, known
                ),
                allowance_max_memory_mb=_clean_memory(
                    f"{field}.allowance_max_memory_mb", item.allowance_max_memory_mb
                ),
            )
        )
    return cleaned


def _clean_allowance_sizes(field: str, value: object, known: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = sizes.parse_scopes(value)
    if not isinstance(value, Sequence):
        raise field_error(field, "must be a list of size scopes (slugs or prefixes like 's-')")
    scopes = tuple(
        _size_scope(f"{field}[{index}]", scope, known) for index, scope in enumerate(value)
    )
    if len(",".join(scopes)) > PlanItem._meta.get_field("allowance_sizes").max_length:
        raise field_error(field, "too many size scopes for one item")
    return scopes


def _clean_memory(field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise field_error(field, f"must be whole MB (e.g. 4096 for 4 GB), got {value!r}")
    return value


def clean_size_scope(field: str, value: object) -> str:
    """A price's size scope: "" or a slug / prefix the synced price list knows (else 400)."""
    return _size_scope(field, value, known_size_slugs()) if value else ""


def _size_scope(field: str, value: object, known: list[str]) -> str:
    try:
        return sizes.clean_scope(field, value, known_slugs=known)
    except FieldError as exc:
        raise field_error(exc.field, exc.message) from None


def _item_rows(version: PlanVersion, items: Sequence[PlanItemInput]) -> list[PlanItem]:
    return [
        PlanItem(
            version=version,
            resource_kind=item.resource_kind,
            included_qty=item.included_qty,
            overage_unit=item.overage_unit,
            overage_price_cents=item.overage_price_cents,
            hard_cap_qty=item.hard_cap_qty,
            allowance_sizes=",".join(item.allowance_sizes),
            allowance_max_memory_mb=item.allowance_max_memory_mb,
        )
        for item in items
    ]


# ---------------------------------------------------------------------------------------------
# Add-ons
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def addon_create(
    *,
    code: str,
    name: str,
    resource_kind: str,
    qty: Decimal,
    price_cents: int,
    currency: str,
    is_active: bool = True,
) -> Addon:
    code = clean_code("code", code)
    fields = {
        "name": clean_text("name", name, max_length=200),
        "resource_kind": clean_kind("resource_kind", resource_kind),
        "qty": clean_catalog_qty("qty", qty),
        "price_cents": clean_price_cents("price_cents", price_cents),
        "currency": clean_currency("currency", currency),
        "is_active": bool(is_active),
    }
    if Addon.objects.filter(code=code).exists():
        raise _duplicate_code("add-on", code)
    try:
        with transaction.atomic():
            return Addon.objects.create(code=code, **fields)
    except IntegrityError:
        raise _duplicate_code("add-on", code) from None


@transaction.atomic
def addon_update(
    *,
    addon: Addon,
    name: str | None = None,
    qty: Decimal | None = None,
    price_cents: int | None = None,
) -> Addon:
    """Change what FUTURE attachments get; existing subscribers keep their snapshot.

    Code, kind and currency identify what an add-on is and stay fixed: a different one is a
    new add-on.
    """
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_text("name", name, max_length=200)
    if qty is not None:
        changes["qty"] = clean_catalog_qty("qty", qty)
    if price_cents is not None:
        changes["price_cents"] = clean_price_cents("price_cents", price_cents)
    return _update_addon(addon, **changes)


@transaction.atomic
def addon_deactivate(*, addon: Addon) -> Addon:
    """No new attachments; subscribers who have it keep it at their snapshotted price."""
    return _update_addon(addon, is_active=False)


@transaction.atomic
def addon_activate(*, addon: Addon) -> Addon:
    return _update_addon(addon, is_active=True)


def _update_addon(addon: Addon, **changes: object) -> Addon:
    locked = lock_addon(addon.pk)
    for name, value in changes.items():
        setattr(locked, name, value)
    if changes:
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


def _duplicate_code(what: str, code: str):
    return field_error("code", f"a {what} with code {code!r} already exists; codes are unique")


# ---------------------------------------------------------------------------------------------
# Resource prices
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def resource_price_create(
    *,
    resource_kind: str,
    price_cents: int,
    currency: str,
    effective_from: dt.date,
    effective_to: dt.date | None = None,
    unit: str | None = None,
    supersede: bool = False,
    size_scope: str = "",
    markup_percent: Decimal | None = None,
) -> ResourcePrice:
    """A fallback list price valid on [effective_from, effective_to) (end exclusive, None = open).

    Ranges of one (kind, currency) never overlap: an overlap is a 409 naming the price in the
    way. With `supersede=True` an open-ended new price ends the open-ended price before it on
    its first day — the usual "new price from date D" change. The overlapping rows are locked
    (ordered by pk), so two writers cannot both end the same predecessor; two new prices that
    overlap only each other have no row to lock and are caught by the PostgreSQL exclusion
    constraint (409).

    Issue 18: `size_scope` limits it to a size slug or family prefix ("" every size; an unknown
    slug or a prefix no known size has is a 400 naming `size_scope`), and ranges overlap only
    within one scope. `markup_percent` makes it cost-plus (DigitalOcean's list price of the
    size x (1 + markup / 100), at the period's FX rate): at least -100 (400 naming it), and
    `price_cents` must then be 0.
    """
    kind = clean_kind("resource_kind", resource_kind)
    size_scope = clean_size_scope("size_scope", size_scope)
    markup_percent = clean_markup("markup_percent", markup_percent)
    unit = clean_unit("unit", unit, kind=kind)
    price_cents = clean_price_cents("price_cents", price_cents)
    currency = clean_currency("currency", currency)
    effective_from = clean_date("effective_from", effective_from)
    if effective_to is not None:
        effective_to = clean_date("effective_to", effective_to)
        if effective_to <= effective_from:
            raise field_error(
                "effective_to", f"{effective_to} must be after effective_from {effective_from}"
            )

    if markup_percent is not None and price_cents:
        raise field_error(
            "price_cents", "a cost-plus price (markup_percent given) takes no fixed price; use 0"
        )
    overlapping = lock_resource_prices_overlapping(
        resource_kind=kind,
        currency=currency,
        start=effective_from,
        end=effective_to,
        size_scope=size_scope,
    )
    if supersede and effective_to is None and _can_supersede(overlapping, effective_from):
        predecessor = overlapping.pop()
        predecessor.effective_to = effective_from
        predecessor.save(update_fields=["effective_to"])
    if overlapping:
        raise _overlap_conflict(overlapping[0])
    try:
        with transaction.atomic():
            return ResourcePrice.objects.create(
                resource_kind=kind,
                unit=unit,
                price_cents=price_cents,
                currency=currency,
                effective_from=effective_from,
                effective_to=effective_to,
                size_scope=size_scope,
                markup_percent=markup_percent,
            )
    except IntegrityError:
        # A concurrent create won the race for a pair that had no row to lock.
        raise Conflict(
            f"another {kind} price in {currency} was created at the same time; retry",
            fields={"effective_from": ["overlaps a concurrently created price"]},
        ) from None


MARKUP_PLACES = Decimal("0.0001")
MAX_MARKUP = Decimal("100000")


def clean_markup(field: str, value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        markup = Decimal(str(value)) if not isinstance(value, float | bool) else None
    except ArithmeticError:
        markup = None
    if markup is None or not markup.is_finite():
        raise field_error(field, f"{value!r} is not a percentage (e.g. 25 for +25%)")
    if markup < -100:
        raise field_error(field, f"{markup}% is below -100%: a cost-plus price cannot be negative")
    if markup > MAX_MARKUP or markup != markup.quantize(MARKUP_PLACES):
        raise field_error(field, f"{markup} must be at most {MAX_MARKUP} with 4 decimal places")
    return markup


def _can_supersede(overlapping: list[ResourcePrice], start: dt.date) -> bool:
    return (
        len(overlapping) == 1
        and overlapping[0].effective_to is None
        and overlapping[0].effective_from < start
    )


def _overlap_conflict(price: ResourcePrice) -> Conflict:
    until = price.effective_to.isoformat() if price.effective_to else "open-ended"
    message = (
        f"overlaps the {price.resource_kind} price {price.price_cents}c/{price.unit} "
        f"{price.currency} valid from {price.effective_from} to {until} (id {price.pk}); "
        "price ranges of a kind and currency must not overlap"
    )
    if price.size_scope:
        message = message.replace("(id", f"for sizes {price.size_scope!r} (id").replace(
            "a kind and currency", "a kind, currency and size scope"
        )
        return Conflict(f"size_scope: {message}", fields={"size_scope": [message]})
    return Conflict(f"effective_from: {message}", fields={"effective_from": [message]})


# ---------------------------------------------------------------------------------------------
# DigitalOcean's price list (issue 18)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderPriceSync:
    opened: int
    closed: int
    unchanged: int
    skipped: tuple[str, ...] = ()

    def summary(self) -> str:
        text = f"{self.opened} prices opened, {self.closed} closed, {self.unchanged} unchanged"
        if self.skipped:
            text += f", {len(self.skipped)} skipped ({'; '.join(self.skipped[:3])})"
        return text

    def as_dict(self) -> dict:
        return {
            "opened": self.opened,
            "closed": self.closed,
            "unchanged": self.unchanged,
            "skipped": list(self.skipped),
        }


_PRICE_FIELDS = ("unit", "price_hourly", "price_monthly", "memory_mb", "vcpus")


@transaction.atomic(durable=True)
def provider_prices_sync(
    *, listed: Sequence[ListedPrice], today: dt.date, skipped: Sequence[str] = ()
) -> ProviderPriceSync:
    """Bring `provider_prices` to DigitalOcean's price list as read today: an unchanged price
    writes nothing; a changed one closes its open row on `today` and opens a new one from it
    (a change seen twice in a day corrects today's row in place: a range is never empty); a
    new size opens a row. A size DO no longer lists keeps its open row (a running droplet of a
    withdrawn size is still billed at it)."""
    lock_provider_prices_sync()
    now = timezone.now()
    open_rows = {
        (row.provider_kind, row.size_slug): row
        for row in ProviderPrice.objects.filter(effective_to__isnull=True)
    }
    opened = closed = unchanged = 0
    seen: set[tuple[str, str]] = set()
    for price in listed:
        if price.key in seen:
            continue
        seen.add(price.key)
        current = open_rows.get(price.key)
        values = {name: getattr(price, name) for name in _PRICE_FIELDS}
        if current is not None:
            if all(getattr(current, name) == value for name, value in values.items()):
                unchanged += 1
                continue
            if current.effective_from >= today:
                for name, value in values.items():
                    setattr(current, name, value)
                current.source, current.synced_at = price.source, now
                current.save()
                opened += 1
                continue
            current.effective_to = today
            current.save(update_fields=["effective_to"])
            closed += 1
        ProviderPrice.objects.create(
            provider_kind=price.provider_kind,
            size_slug=price.size_slug,
            effective_from=today,
            source=price.source,
            synced_at=now,
            **values,
        )
        opened += 1
    return ProviderPriceSync(opened, closed, unchanged, tuple(skipped))
