"""The plan catalog (SPEC §8): plans, their versions and items, add-ons and fallback prices.

A plan version is the unit of pricing a subscription binds to. Once published (active) or
retired it never changes again — a price change is a new version — so an invoice can always be
explained by the version it names. The database enforces what it can cheaply: one active
version per plan, one item per kind, non-negative money and quantities, ISO 4217 currency codes.
Overlapping resource-price ranges are refused by the service and, on PostgreSQL, by an exclusion
constraint added in migration 0002.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from arcadia_cloud.money import QTY_DECIMAL_PLACES, QTY_MAX_DIGITS
from pricing import kinds as billing_kinds

CURRENCY_PATTERN = r"^[A-Z]{3}$"


class ImmutableVersionError(Exception):
    """A write to a published (active or retired) plan version or one of its items.

    Raised by the model layer as the last line of defence; services check first and raise the
    API-facing `Conflict` with a message that says what to do instead.
    """


def _currency_check(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(currency__regex=CURRENCY_PATTERN), name=name)


class Plan(models.Model):
    """A named product line (starter, studio, pro). Its prices live in its versions."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plans"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PlanVersionStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


# The only columns the publish / retire lifecycle may change on a published version.
LIFECYCLE_FIELDS = frozenset({"status", "published_at", "retired_at", "published_by", "updated_at"})


class PlanVersion(models.Model):
    """One priced edition of a plan: draft → active (published) → retired."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=PlanVersionStatus.choices, default=PlanVersionStatus.DRAFT
    )
    base_price_cents = models.IntegerField()
    currency = models.CharField(max_length=3)
    # The free trial a subscription to this version gets when subscribing names none.
    trial_days = models.PositiveSmallIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    published_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plan_versions"
        ordering = ["plan_id", "number"]
        permissions = [("publish_planversion", "Can publish a plan version")]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="plan_version_number_unique"),
            models.UniqueConstraint(
                fields=["plan"],
                condition=Q(status=PlanVersionStatus.ACTIVE),
                name="plan_one_active_version",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="plan_version_number_positive"),
            models.CheckConstraint(
                condition=Q(base_price_cents__gte=0), name="plan_version_base_price_non_negative"
            ),
            _currency_check("plan_version_currency_iso4217"),
            # Lifecycle timestamps match the status, so "when was this published" always has
            # an answer for a version that was.
            models.CheckConstraint(
                condition=(
                    Q(status=PlanVersionStatus.DRAFT, published_at=None, retired_at=None)
                    | Q(
                        status=PlanVersionStatus.ACTIVE, published_at__isnull=False, retired_at=None
                    )
                    | Q(
                        status=PlanVersionStatus.RETIRED,
                        published_at__isnull=False,
                        retired_at__isnull=False,
                    )
                ),
                name="plan_version_lifecycle_timestamps",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} v{self.number} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        """Refuse any change to a published version other than its lifecycle columns."""
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            lifecycle_only = update_fields is not None and set(update_fields) <= LIFECYCLE_FIELDS
            if not lifecycle_only and _is_published(self.pk):
                raise ImmutableVersionError(
                    f"{self.plan} v{self.number} is published; its terms cannot change"
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if _is_published(self.pk):
            raise ImmutableVersionError(f"{self.plan} v{self.number} is published; it stays")
        return super().delete(*args, **kwargs)

    @property
    def is_draft(self) -> bool:
        return self.status == PlanVersionStatus.DRAFT


def _is_published(version_id: int | None) -> bool:
    """Whether the version is active or retired in the DATABASE (an in-memory copy may be
    stale: loaded as a draft, published since by someone else)."""
    if version_id is None:
        return False
    return (
        PlanVersion.objects.filter(pk=version_id).exclude(status=PlanVersionStatus.DRAFT).exists()
    )


class PlanItem(models.Model):
    """What a plan version includes of one billing kind, and how it prices the rest."""

    version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="items")
    resource_kind = models.CharField(max_length=32, choices=billing_kinds.choices())
    included_qty = models.DecimalField(max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES)
    overage_unit = models.CharField(max_length=16, choices=billing_kinds.unit_choices())
    overage_price_cents = models.IntegerField()
    hard_cap_qty = models.DecimalField(
        max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES, null=True, blank=True
    )
    # The sizes the item covers (issue 18): comma-separated size scopes (an exact slug, or a
    # family prefix ending in "-" such as "s-"), "" = every size; and at most this much memory.
    # Usage of other sizes is priced by its size price (ResourcePrice), not by this item.
    allowance_sizes = models.CharField(max_length=200, blank=True, default="")
    allowance_max_memory_mb = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "plan_items"
        ordering = ["version_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "resource_kind"], name="plan_item_unique_kind"
            ),
            models.CheckConstraint(
                condition=Q(included_qty__gte=0), name="plan_item_included_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(overage_price_cents__gte=0), name="plan_item_price_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(hard_cap_qty__isnull=True) | Q(hard_cap_qty__gte=0),
                name="plan_item_hard_cap_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_kind}: {self.included_qty} included"

    def save(self, *args, **kwargs) -> None:
        self._refuse_if_published()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_published()
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from catalog.validation import unit_problem

        problem = unit_problem(self.resource_kind, self.overage_unit)
        if problem:
            raise ValidationError({"overage_unit": problem})

    def _refuse_if_published(self) -> None:
        if _is_published(self.version_id):
            raise ImmutableVersionError(
                f"plan version {self.version_id} is published; its items cannot change"
            )


class Addon(models.Model):
    """A purchasable extra allowance of one billing kind.

    Add-ons are not versioned: subscribers keep the qty and price snapshotted when they attached
    one, so changing an add-on here only affects future attachments.
    """

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    resource_kind = models.CharField(max_length=32, choices=billing_kinds.choices())
    qty = models.DecimalField(max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES)
    price_cents = models.IntegerField()
    currency = models.CharField(max_length=3)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "addons"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gte=0), name="addon_qty_non_negative"),
            models.CheckConstraint(
                condition=Q(price_cents__gte=0), name="addon_price_non_negative"
            ),
            _currency_check("addon_currency_iso4217"),
        ]

    def __str__(self) -> str:
        return self.code


class ResourcePrice(models.Model):
    """The list price of a billing kind no plan item covers, valid on [effective_from,
    effective_to) — the end day is exclusive, so a successor starts on its predecessor's end."""

    resource_kind = models.CharField(max_length=32, choices=billing_kinds.choices())
    unit = models.CharField(max_length=16, choices=billing_kinds.unit_choices())
    price_cents = models.IntegerField()
    currency = models.CharField(max_length=3)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    # Issue 18: the sizes it prices — "" every size, an exact slug, or a family prefix ending in
    # "-" ("gpu-"); the most specific match wins (exact > longest prefix > unscoped).
    size_scope = models.CharField(max_length=64, blank=True, default="")
    # Cost-plus when set: DigitalOcean's list price of the size (ProviderPrice) x (1 + markup
    # / 100), converted with the period's FX rate; `price_cents` is then unused (0).
    markup_percent = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "resource_prices"
        ordering = ["resource_kind", "currency", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_cents__gte=0), name="resource_price_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gt=models.F("effective_from")),
                name="resource_price_range_not_empty",
            ),
            _currency_check("resource_price_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(markup_percent__isnull=True) | Q(markup_percent__gte=-100),
                name="resource_price_markup_at_least_minus_100",
            ),
        ]
        indexes = [
            models.Index(
                fields=["resource_kind", "currency", "effective_from"],
                name="resource_price_lookup",
            )
        ]

    def __str__(self) -> str:
        until = f" until {self.effective_to}" if self.effective_to else ""
        price = f"{self.resource_kind} {self.price_cents}c/{self.unit} {self.currency}"
        if self.markup_percent is not None:
            markup = f"DO list +{self.markup_percent}%"
            price = f"{self.resource_kind} {markup}/{self.unit} {self.currency}"
        if self.size_scope:
            price += f" [{self.size_scope}]"
        return f"{price} from {self.effective_from}{until}"

    @property
    def is_cost_plus(self) -> bool:
        return self.markup_percent is not None


class ProviderKind(models.TextChoices):
    """What DigitalOcean prices, as its price list groups it (`catalog.provider_prices`)."""

    DROPLET = "droplet"  # /v2/sizes: droplets, GPU droplets, Kubernetes worker nodes
    DATABASE = "database"
    APP = "app"
    KUBERNETES = "kubernetes"  # the HA control plane
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    BACKUP = "backup"
    RESERVED_IP = "reserved_ip"
    RESERVED_IPV6 = "reserved_ipv6"
    LOAD_BALANCER = "load_balancer"
    SPACES = "spaces"
    REGISTRY = "registry"
    CUSTOM_IMAGE = "custom_image"
    BANDWIDTH = "bandwidth"


class ProviderPrice(models.Model):
    """DigitalOcean's list price of one thing it sells (issue 18), in USD as DO states it, valid
    on [effective_from, effective_to): a sync that sees a changed price closes the row and opens
    a new one; an unchanged price writes nothing. `size_slug` "" for a kind with one price.

    `unit` is what `price_hourly` / `price_monthly` are per: "hour" / "month" of the size, or
    "gb_month" (price_monthly per GB-month) / "gb" for storage and transfer."""

    provider_kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    size_slug = models.CharField(max_length=64, blank=True, default="")
    unit = models.CharField(max_length=16)
    price_hourly = models.DecimalField(max_digits=18, decimal_places=9, null=True, blank=True)
    price_monthly = models.DecimalField(max_digits=18, decimal_places=9, null=True, blank=True)
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    vcpus = models.PositiveIntegerField(null=True, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=200)
    synced_at = models.DateTimeField()

    class Meta:
        db_table = "provider_prices"
        ordering = ["provider_kind", "size_slug", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_kind", "size_slug"],
                condition=Q(effective_to__isnull=True),
                name="provider_price_one_open",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gt=models.F("effective_from")),
                name="provider_price_range_not_empty",
            ),
            models.CheckConstraint(
                condition=(Q(price_hourly__isnull=True) | Q(price_hourly__gte=0))
                & (Q(price_monthly__isnull=True) | Q(price_monthly__gte=0)),
                name="provider_price_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["size_slug", "effective_from"], name="provider_price_by_slug")
        ]

    def __str__(self) -> str:
        slug = f" {self.size_slug}" if self.size_slug else ""
        return f"{self.provider_kind}{slug} from {self.effective_from}"


class FxRateReading(models.Model):
    """A read-only view of analytics' `fx_rates` table, so cost-plus prices convert with the SAME
    rates (and the same rule, `pricing.fx`) as the margin without the catalog importing
    analytics (floors). Analytics owns and writes the table; this model is unmanaged."""

    from_currency = models.CharField(max_length=3)
    to_currency = models.CharField(max_length=3)
    period = models.DateField()
    rate = models.DecimalField(max_digits=18, decimal_places=8)

    class Meta:
        managed = False
        db_table = "fx_rates"

    def __str__(self) -> str:
        return f"{self.from_currency}->{self.to_currency} {self.rate} for {self.period}"


class CatalogGeneration(models.Model):
    """The catalog's generation: one row whose `value` changes — to a number never used before
    — in the same transaction as every write to a catalog table. PostgreSQL triggers keep it
    (migration 0006: after each INSERT, UPDATE, DELETE or TRUNCATE statement on the tables
    below), so no write path can forget it, an ORM `update()` or a bulk sync included; a
    process may keep what it computed from the catalog while the value it read stands
    (`catalog.cache`). Not kept on SQLite: there nothing is cached."""

    TABLES = ("plans", "plan_versions", "plan_items", "addons", "resource_prices",
              "provider_prices", "fx_rates")  # fmt: skip

    value = models.BigIntegerField()

    class Meta:
        db_table = "catalog_generation"
        default_permissions = ()

    def __str__(self) -> str:
        return f"catalog generation {self.value}"
