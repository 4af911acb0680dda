"""Reads of the catalog, and the builders that hand it to the quote engine as plain terms.

`pricing.engine` is pure: it never touches the ORM. Whoever prices something (the quote
API, the rollup, live accrual) loads the catalog through the builders here — `plan_terms`,
`addon_terms`, `resource_price_book` — so every caller feeds the engine the same way.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.db.models import Prefetch, Q, QuerySet

from arcadia_cloud.errors import NotFound, field_error
from arcadia_cloud.money import CENTS_PER_UNIT, format_decimal, round_cents
from arcadia_cloud.periods import month_start
from catalog.models import (
    Addon,
    FxRateReading,
    Plan,
    PlanItem,
    PlanVersion,
    PlanVersionStatus,
    ProviderPrice,
    ResourcePrice,
)
from catalog.provider_prices import BILLING_PROVIDER, list_price_per_unit
from pricing import kinds as billing_kinds
from pricing import sizes
from pricing.engine import AddonTerms, PlanItemTerms, PlanTerms, ResourcePriceTerms
from pricing.fx import FxConversion, RateRow, choose_conversion

# ---------------------------------------------------------------------------------------------
# Plans and versions
# ---------------------------------------------------------------------------------------------


def _items_prefetch() -> Prefetch:
    return Prefetch("items", queryset=PlanItem.objects.order_by("id"))


def plans_with_active_version() -> QuerySet[Plan]:
    """Every plan; `plan.active_versions` holds its active version (0 or 1) with items.

    Three queries whatever the number of plans.
    """
    active = PlanVersion.objects.filter(status=PlanVersionStatus.ACTIVE).prefetch_related(
        _items_prefetch()
    )
    return Plan.objects.order_by("code").prefetch_related(
        Prefetch("versions", queryset=active, to_attr="active_versions")
    )


def plan_get(*, code: str) -> Plan:
    """The plan named `code`, or 404."""
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise NotFound(f"no plan with code {code!r}")
    return plan


def plan_versions(*, plan: Plan, include_drafts: bool) -> QuerySet[PlanVersion]:
    """A plan's versions, newest first, with items. Drafts are for operators' eyes only."""
    versions = PlanVersion.objects.filter(plan=plan).select_related("plan")
    if not include_drafts:
        versions = versions.exclude(status=PlanVersionStatus.DRAFT)
    return versions.prefetch_related(_items_prefetch()).order_by("-number")


def version_get(*, version_id: int) -> PlanVersion:
    version = (
        PlanVersion.objects.select_related("plan")
        .prefetch_related(_items_prefetch())
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        raise NotFound(f"no plan version with id {version_id}")
    return version


def active_version(plan_code: str) -> PlanVersion | None:
    """The version a new signup to `plan_code` gets (with items), or None."""
    return (
        PlanVersion.objects.select_related("plan")
        .prefetch_related(_items_prefetch())
        .filter(plan__code=plan_code, status=PlanVersionStatus.ACTIVE)
        .first()
    )


def active_version_required(plan_code: object, *, field: str = "plan_code") -> PlanVersion:
    """`active_version`, or a 400 naming `field` that tells an unknown plan from an unpublished
    one (for the quote API and subscribing)."""
    version = active_version(plan_code) if isinstance(plan_code, str) else None
    if version is not None:
        return version
    if isinstance(plan_code, str) and Plan.objects.filter(code=plan_code).exists():
        raise field_error(field, f"plan {plan_code!r} has no active (published) version yet")
    known = ", ".join(Plan.objects.order_by("code").values_list("code", flat=True)) or "none"
    raise field_error(field, f"{plan_code!r} is not a plan; known plans: {known}")


# ---------------------------------------------------------------------------------------------
# Add-ons
# ---------------------------------------------------------------------------------------------


def addons_list(*, include_inactive: bool = False) -> QuerySet[Addon]:
    addons = Addon.objects.order_by("code")
    return addons if include_inactive else addons.filter(is_active=True)


def addons_for_plan_version(
    *, version: PlanVersion, codes: Sequence[str], field: str = "addons"
) -> list[Addon]:
    """The live add-ons named by `codes` (in that order), checked against `version`.

    Refused with a 400 naming `field`: a code listed twice, an unknown or inactive add-on, one
    in another currency than the plan, and one whose kind the version has no item for (its
    allowance would extend nothing — see docs/decisions.md). One query for all codes.
    """
    if isinstance(codes, str | bytes) or not isinstance(codes, Sequence):
        raise field_error(field, "must be a list of add-on codes")
    duplicates = sorted({code for code in codes if list(codes).count(code) > 1})
    if duplicates:
        raise field_error(field, f"{', '.join(map(str, duplicates))} listed more than once")
    found = {addon.code: addon for addon in Addon.objects.filter(code__in=list(codes))}
    covered = {item.resource_kind for item in version.items.all()}
    addons = []
    for code in codes:
        addon = found.get(code)
        if addon is None or not addon.is_active:
            state = "inactive" if addon is not None else "unknown"
            raise field_error(field, f"{code!r} is an {state} add-on; see GET catalog/addons")
        if addon.currency != version.currency:
            raise field_error(
                field,
                f"{code} is priced in {addon.currency} but {version.plan.code} v{version.number} "
                f"bills in {version.currency}",
            )
        if addon.resource_kind not in covered:
            raise field_error(
                field,
                f"{code} adds {addon.resource_kind} but {version.plan.code} v{version.number} has "
                f"no {addon.resource_kind} allowance to extend",
            )
        addons.append(addon)
    return addons


# ---------------------------------------------------------------------------------------------
# Resource prices
# ---------------------------------------------------------------------------------------------


def _prices_on(on_date: dt.date) -> QuerySet[ResourcePrice]:
    return ResourcePrice.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=on_date), effective_from__lte=on_date
    )


def resource_prices_overlapping(
    *,
    resource_kind: str,
    currency: str,
    start: dt.date,
    end: dt.date | None,
    size_scope: str = "",
) -> QuerySet[ResourcePrice]:
    """Prices of the pair and size scope whose [from, to) range shares a day with [start, end)
    (None = open)."""
    prices = ResourcePrice.objects.filter(
        resource_kind=resource_kind, currency=currency, size_scope=size_scope
    ).filter(Q(effective_to__isnull=True) | Q(effective_to__gt=start))
    return prices if end is None else prices.filter(effective_from__lt=end)


def current_resource_price(
    kind: str, on_date: dt.date, currency: str | None = None
) -> ResourcePrice | None:
    """The fallback price of `kind` valid on `on_date` (in `currency`), or None.

    Without a currency the price is unambiguous only while one currency prices the kind that
    day; otherwise the caller must say which (400 naming `currency`).
    """
    billing_kinds.get_billing_kind(kind)
    prices = _prices_on(on_date).filter(resource_kind=kind, size_scope="")
    if currency is not None:
        return prices.filter(currency=currency).first()
    found = list(prices.order_by("currency")[:2])
    _refuse_ambiguous(kind, on_date, found)
    return found[0] if found else None


def _in_force(price: ResourcePrice, day: dt.date) -> bool:
    return price.effective_from <= day and (price.effective_to is None or price.effective_to > day)


class ResourcePriceBook:
    """The fallback resource prices of some currencies over a date range, read in ONE query;
    `terms_on(day, currency)` gives each billing kind's price in force that day (half-open
    [effective_from, effective_to) ranges, which never overlap per kind and currency), or None.

    The pricing loader asks for the day its price-date rule names (docs/decisions.md); a month
    of 5,000 tenants reads the book once and picks from it in memory."""

    def __init__(self, rows: Iterable[ResourcePrice]) -> None:
        self._rows = tuple(rows)
        self._picked: dict[tuple[dt.date, str], dict[str, ResourcePriceTerms | None]] = {}

    def terms_on(self, day: dt.date, currency: str) -> dict[str, ResourcePriceTerms | None]:
        key = (day, currency)
        if key not in self._picked:
            terms: dict[str, ResourcePriceTerms | None] = dict.fromkeys(billing_kinds.BILLING_KINDS)
            for row in self._rows:
                if row.currency == currency and _in_force(row, day) and _plain(row):
                    terms[row.resource_kind] = _resource_price_terms(row)
            self._picked[key] = terms
        return dict(self._picked[key])

    def size_priced_kinds(self, currency: str) -> frozenset[str]:
        """The kinds with a size-scoped or cost-plus price in `currency` in the book's range:
        their usage is priced size by size (issue 18)."""
        return frozenset(
            row.resource_kind for row in self._rows if row.currency == currency and not _plain(row)
        )

    def with_price_in_force(
        self, price: ResourcePrice, *, start: dt.date, end: dt.date
    ) -> ResourcePriceBook:
        """This book with `price` in force over all of [start, end] in place of the prices of
        its kind, currency and size scope there: re-rating a pending price change as if it had
        applied (analytics.rerating). Nothing is written; `price` itself is not changed."""
        in_force = copy.copy(price)
        in_force.effective_from, in_force.effective_to = start, None
        kept = [
            row
            for row in self._rows
            if row.pk == price.pk
            or (row.resource_kind, row.currency, row.size_scope)
            != (price.resource_kind, price.currency, price.size_scope)
            or row.effective_from > end
            or (row.effective_to is not None and row.effective_to <= start)
        ]
        return ResourcePriceBook(
            sorted(
                [row for row in kept if row.pk != price.pk] + [in_force],
                key=lambda row: (row.resource_kind, row.currency, row.effective_from),
            )
        )

    def scoped_on(self, day: dt.date, currency: str, kind: str) -> list[ResourcePrice]:
        """Every price of `kind` in `currency` in force on `day`, whatever its scope."""
        return [
            row
            for row in self._rows
            if row.currency == currency and row.resource_kind == kind and _in_force(row, day)
        ]


def _plain(row: ResourcePrice) -> bool:
    """An unscoped fixed price: what `terms_on` gives (the pre-issue-18 fallback)."""
    return not row.size_scope and row.markup_percent is None


def _in_force(price: ResourcePrice, day: dt.date) -> bool:
    return price.effective_from <= day and (price.effective_to is None or price.effective_to > day)


def resource_price_book(
    *, currencies: Iterable[str], start: dt.date, end: dt.date
) -> ResourcePriceBook:
    """Every resource price of `currencies` in force on some day of [start, end]: one query."""
    wanted = sorted(set(currencies))
    if not wanted:
        return ResourcePriceBook(())
    rows = ResourcePrice.objects.filter(currency__in=wanted, effective_from__lte=end).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=start)
    )
    return ResourcePriceBook(rows.order_by("resource_kind", "currency", "effective_from"))


def _refuse_ambiguous(kind: str, on_date: dt.date, found: Sequence[ResourcePrice]) -> None:
    if len(found) > 1:
        currencies = " and ".join(price.currency for price in found)
        raise field_error(
            "currency", f"{kind} is priced in {currencies} on {on_date}; name the currency"
        )


def _resource_price_terms(price: ResourcePrice) -> ResourcePriceTerms:
    return ResourcePriceTerms(
        resource_kind=price.resource_kind,
        unit=price.unit,
        price_cents=price.price_cents,
        currency=price.currency,
        size_scope=price.size_scope,
    )


# ---------------------------------------------------------------------------------------------
# Builders for the quote engine
# ---------------------------------------------------------------------------------------------


class AddonLike(Protocol):
    """A live `Addon` or an attached, snapshotted subscription add-on."""

    code: str
    name: str
    resource_kind: str
    qty: object
    price_cents: int


def plan_terms_by_version_id(version_ids: Iterable[int]) -> dict[int, PlanTerms]:
    """{version id: the version's terms} for the ids that exist, in two queries (versions,
    items), whatever their number."""
    wanted = sorted(set(version_ids))
    if not wanted:
        return {}
    versions = (
        PlanVersion.objects.filter(pk__in=wanted)
        .select_related("plan")
        .prefetch_related(_items_prefetch())
    )
    return {version.pk: plan_terms(version) for version in versions}


def plan_version_ids(pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """{(plan code, version number): version id} for the pairs that exist, in one query (an
    issued invoice's plan line names the pair; published versions never change)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    condition = Q()
    for code, number in wanted:
        condition |= Q(plan__code=code, number=number)
    rows = PlanVersion.objects.filter(condition).values_list("plan__code", "number", "pk")
    return {(code, number): pk for code, number, pk in rows}


def plan_terms_by_version(pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], PlanTerms]:
    """{(plan code, version number): the version's terms} for the pairs that exist, in two
    queries (versions, items). Published versions never change, so these are also the terms
    an earlier invoice priced with (its plan line names the pair)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    condition = Q()
    for code, number in wanted:
        condition |= Q(plan__code=code, number=number)
    versions = (
        PlanVersion.objects.filter(condition)
        .select_related("plan")
        .prefetch_related(_items_prefetch())
    )
    return {(version.plan.code, version.number): plan_terms(version) for version in versions}


def plan_terms(version: PlanVersion) -> PlanTerms:
    """A plan version as engine terms (uses prefetched items when present)."""
    return PlanTerms(
        plan_code=version.plan.code,
        version=version.number,
        currency=version.currency,
        base_price_cents=version.base_price_cents,
        name=version.plan.name,
        items=tuple(
            PlanItemTerms(
                resource_kind=item.resource_kind,
                included_qty=item.included_qty,
                overage_unit=item.overage_unit,
                overage_price_cents=item.overage_price_cents,
                hard_cap_qty=item.hard_cap_qty,
                size_scopes=sizes.parse_scopes(item.allowance_sizes),
                max_memory_mb=item.allowance_max_memory_mb,
            )
            for item in version.items.all()
        ),
    )


def addon_terms(addons: Iterable[AddonLike]) -> tuple[AddonTerms, ...]:
    """Add-ons as engine terms. For a subscriber pass its SNAPSHOTTED add-ons, never the live
    catalog rows, so a catalog change cannot reprice it."""
    return tuple(
        AddonTerms(
            code=addon.code,
            name=addon.name,
            resource_kind=addon.resource_kind,
            qty=addon.qty,
            price_cents=addon.price_cents,
        )
        for addon in addons
    )


# ---------------------------------------------------------------------------------------------
# DigitalOcean's price list, FX and prices by size (issue 18)
# ---------------------------------------------------------------------------------------------


def known_size_slugs() -> list[str]:
    """Every size slug DigitalOcean's synced price list has (any date): what a size scope may
    name (`pricing.sizes.clean_scope`)."""
    return sorted(
        set(ProviderPrice.objects.exclude(size_slug="").values_list("size_slug", flat=True))
    )


def fx_conversion(*, from_currency: str, to_currency: str, period: dt.date) -> FxConversion:
    """The margin's FX rule (`pricing.fx`) on the rates analytics keeps (`fx_rates`), in one
    query: the latest rate of the pair, either direction, at or before `period`."""
    if from_currency == to_currency:
        return choose_conversion(
            from_currency=from_currency, to_currency=to_currency, period=period, candidates=[]
        )
    pair = Q(from_currency=from_currency, to_currency=to_currency) | Q(
        from_currency=to_currency, to_currency=from_currency
    )
    rows = FxRateReading.objects.filter(pair, period__lte=period).order_by(
        "-period", "from_currency"
    )
    candidates = [
        RateRow(row.from_currency, row.to_currency, row.period, row.rate) for row in rows[:2]
    ]
    return choose_conversion(
        from_currency=from_currency, to_currency=to_currency, period=period, candidates=candidates
    )


class ProviderPriceBook:
    """DigitalOcean's list prices in force on some day of a range, read in ONE query."""

    def __init__(self, rows: Iterable[ProviderPrice]) -> None:
        self._by_key: dict[tuple[str, str], list[ProviderPrice]] = {}
        for row in rows:
            self._by_key.setdefault((row.provider_kind, row.size_slug), []).append(row)

    def on(self, day: dt.date, provider_kind: str, size_slug: str) -> ProviderPrice | None:
        for row in self._by_key.get((provider_kind, size_slug), ()):
            if row.effective_from <= day and (row.effective_to is None or row.effective_to > day):
                return row
        return None


def provider_price_book(*, start: dt.date, end: dt.date) -> ProviderPriceBook:
    rows = ProviderPrice.objects.filter(effective_from__lte=end).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gt=start)
    )
    return ProviderPriceBook(rows.order_by("provider_kind", "size_slug", "effective_from"))


COST_CURRENCY = "USD"  # DigitalOcean's list prices are in US dollars


@dataclass(frozen=True)
class SizePrice:
    """What prices usage of a kind at a size on a day: the most specific price (None: none),
    why there is none when a cost-plus price could not be computed, and the size's memory."""

    terms: ResourcePriceTerms | None
    reason: str = ""
    memory_mb: int | None = None


class SizePricer:
    """Resolves a (kind, size slug) to its price on a day: the most specific scoped price
    (exact > longest prefix > unscoped, `pricing.sizes`), a cost-plus one computed from
    DigitalOcean's list price of that size x (1 + markup) at the period's FX rate (the margin's
    rule) — never guessed: no list price or no rate is a reason, and the line goes unpriced.

    Reads lazily and once: the provider price book on first need, one FX lookup per currency
    and period."""

    def __init__(self, book: ResourcePriceBook, *, start: dt.date, end: dt.date) -> None:
        self._book = book
        self._start, self._end = start, end
        self._provider: ProviderPriceBook | None = None
        self._fx: dict[tuple[str, dt.date], FxConversion] = {}

    def provider(self) -> ProviderPriceBook:
        if self._provider is None:
            self._provider = provider_price_book(start=self._start, end=self._end)
        return self._provider

    def size_priced_kinds(self, currency: str) -> frozenset[str]:
        return self._book.size_priced_kinds(currency)

    @staticmethod
    def slug_for(kind: str, size_slug: str) -> str:
        """The slug a kind is priced by: its own for a kind DO prices by size, else ""."""
        provider = BILLING_PROVIDER.get(kind)
        return size_slug if provider is not None and provider[1] else ""

    def memory_mb(self, kind: str, size_slug: str, day: dt.date) -> int | None:
        provider = BILLING_PROVIDER.get(kind)
        if provider is None or not size_slug:
            return None
        row = self.provider().on(day, provider[0], size_slug)
        return None if row is None else row.memory_mb

    def price(self, kind: str, size_slug: str, day: dt.date, currency: str) -> SizePrice:
        rows = self._book.scoped_on(day, currency, kind)
        found = sizes.most_specific(size_slug, [(row.size_scope, row) for row in rows])
        memory = self.memory_mb(kind, size_slug, day)
        if found is None:
            return SizePrice(None, memory_mb=memory)
        if found.markup_percent is None:
            return SizePrice(_resource_price_terms(found), memory_mb=memory)
        return self._cost_plus(found, kind, size_slug, day, memory)

    def _cost_plus(
        self, row: ResourcePrice, kind: str, size_slug: str, day: dt.date, memory: int | None
    ) -> SizePrice:
        provider_kind, _ = BILLING_PROVIDER.get(kind, ("", False))
        listed = self.provider().on(day, provider_kind, size_slug) if provider_kind else None
        shown = size_slug or kind
        if listed is None:
            return SizePrice(
                None,
                f"no DigitalOcean list price for {shown} on {day} (sync it: manage.py "
                "sync_provider_prices), so its cost-plus price cannot be computed",
                memory,
            )
        base_unit = billing_kinds.get_billing_kind(kind).base_unit
        usd = list_price_per_unit(base_unit, listed)
        if usd is None:
            return SizePrice(None, f"DigitalOcean lists no {base_unit} price for {shown}", memory)
        period = month_start(day)
        key = (row.currency, period)
        if key not in self._fx:
            self._fx[key] = fx_conversion(
                from_currency=COST_CURRENCY, to_currency=row.currency, period=period
            )
        conversion = self._fx[key]
        factor = billing_kinds.unit_factor(row.unit)
        usd_cents = usd * factor * CENTS_PER_UNIT * (1 + row.markup_percent / 100)
        exact = conversion.convert_exact_cents(usd_cents)
        if exact is None:
            return SizePrice(None, conversion.reason or "no FX rate", memory)
        rate = conversion.rate_row
        basis = (
            ("list_price_usd", format_decimal(usd)),
            ("list_price_unit", base_unit),
            ("list_price_source", listed.source),
            ("markup_percent", format_decimal(row.markup_percent)),
            ("fx_rate", "1" if rate is None else format_decimal(rate.rate)),
            (
                "fx_direction",
                f"{COST_CURRENCY}->{row.currency}"
                if rate is None
                else f"{rate.from_currency}->{rate.to_currency}",
            ),
            ("fx_period", (rate.period if rate else period).isoformat()),
        )
        terms = ResourcePriceTerms(
            resource_kind=row.resource_kind,
            unit=row.unit,
            price_cents=round_cents(exact),
            currency=row.currency,
            size_scope=row.size_scope,
            exact_price_cents=exact,
            basis=basis,
        )
        return SizePrice(terms, memory_mb=memory)
