"""Late usage priced: what an earlier, already invoiced month owes now (docs/decisions.md,
Invoicing). Pure, like the rest of the kernel; the loader (`invoicing.pricing_inputs`) reads the
sources, `pricing.tenant.price_tenant` adds their lines to the tenant's next invoice.

Per deployment of such an invoice, per billing kind (and once for its passthrough LLM charges):

    late amount = what the month's usage costs now, priced on the terms its invoice used
                  - what has been billed for it so far (its invoice, and late lines since)

The month is re-priced through `price_subscription` — the same path that priced it — so its own
allowance applies and is never granted twice, a late quantity above it costs the month's overage
price, and passthrough charges are summed exactly with the month's and rounded once: in the end
the month is billed to the cent what an on-time invoice would have billed. A difference below
zero (the month's usage shrank) is reported, never credited automatically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from arcadia_cloud.money import CENTS_PER_UNIT, format_decimal
from pricing.engine import AddonTerms, QuoteLine
from pricing.invoice import (
    LATE_USAGE,
    LINE_LLM_USAGE,
    LLM_RESOURCE_KIND,
    LLMCharges,
    Month,
    PricedLine,
    PricingError,
    SubscriptionInputs,
    passthrough_cents,
    price_subscription,
)
from pricing.kinds import BILLING_KINDS

# The bucket of passthrough LLM charges (every other bucket is a billing kind).
PASSTHROUGH = "llm_passthrough"


@dataclass(frozen=True)
class Billed:
    """What has been billed for one bucket of one deployment's month: line qty and cents."""

    qty: Decimal = Decimal(0)
    cents: int = 0

    def plus(self, qty: Decimal, cents: int) -> Billed:
        return Billed(self.qty + qty, self.cents + cents)


@dataclass(frozen=True)
class LateClaim:
    """What one earlier invoice's lines say about one of its deployments: the terms it priced
    the month with and what has been billed for that month so far (by bucket)."""

    tenant_id: str
    invoice_id: int
    invoice_number: str
    month: Month
    currency: str
    deployment_id: int
    deployment_slug: str
    subscription_id: int | None
    plan: tuple[str, int] | None  # (plan code, version number); None: no plan line (by hand)
    addons: tuple[AddonTerms, ...]
    billed: Mapping[str, Billed] = field(default_factory=dict)


@dataclass(frozen=True)
class LateSource:
    """A claim with everything recorded for its month now: the inputs that re-price it on its
    invoice's terms (None when the invoice names no plan version), its usage and LLM charges."""

    claim: LateClaim
    inputs: SubscriptionInputs | None
    usage: Mapping[str, Decimal]
    llm: LLMCharges | None
    # The month's pieces when its invoice priced it in several or from a later first day (a
    # plan change split it, a trial delayed billing): each re-priced with its own terms and the
    # usage of its own days, and summed — as the month's invoice priced it (issue 20).
    pieces: tuple[SubscriptionInputs, ...] = ()


def late_usage_lines(
    sources: Sequence[LateSource], *, currency: str | None = None
) -> tuple[list[PricedLine], list[str]]:
    """The late lines one tenant's next invoice carries, and warnings for what it cannot bill.

    `currency` is the next invoice's; a source billed in another currency cannot be added to it
    (PricingError, so the tenant is reported and nothing is written). Lines come in month, then
    deployment, then kind order.
    """
    lines: list[PricedLine] = []
    warnings: list[str] = []
    for source in sorted(sources, key=_order):
        claim = source.claim
        priced, notes = _source_lines(source)
        if priced and currency is not None and claim.currency != currency:
            raise PricingError(
                f"late usage of {claim.month.label} ({claim.deployment_slug}) was invoiced in "
                f"{claim.currency} on {claim.invoice_number}; this invoice is in {currency} "
                "and currencies are never mixed on an invoice"
            )
        lines.extend(priced)
        warnings.extend(notes)
    return lines, warnings


def _order(source: LateSource) -> tuple:
    return (source.claim.month.start, source.claim.deployment_id, source.claim.invoice_id)


def _source_lines(source: LateSource) -> tuple[list[PricedLine], list[str]]:
    claim = source.claim
    lines: list[PricedLine] = []
    warnings: list[str] = []
    due = _metered_due(source, warnings)
    for bucket in sorted(set(due) | (set(claim.billed) - {PASSTHROUGH})):
        line = _metered_line(source, bucket, due.get(bucket), warnings)
        if line is not None:
            lines.append(line)
    passthrough = _passthrough_line(source, warnings)
    if passthrough is not None:
        lines.append(passthrough)
    return lines, warnings


def _metered_due(source: LateSource, warnings: list[str]) -> dict[str, QuoteLine]:
    """The month's usage lines as the quote engine prices them now, on the month's terms."""
    claim = source.claim
    if source.inputs is None:
        if any(qty for qty in source.usage.values()):
            warnings.append(
                f"{claim.deployment_slug}: invoice {claim.invoice_number} names no plan "
                "version, so its late metered usage cannot be priced; bill it by hand"
            )
        return {}
    if source.pieces:
        return _summed(
            line
            for piece in source.pieces
            for line in price_subscription(piece, claim.month).quote.overage.lines
        )
    # A kind priced size by size (issue 18) has a line per size: added up as one per kind.
    return _summed(price_subscription(source.inputs, claim.month).quote.overage.lines)


def _summed(lines: Iterable[QuoteLine]) -> dict[str, QuoteLine]:
    """The pieces' usage lines of each kind as one: quantities and cents added (each piece was
    rounded on its own, as its invoice lines were), the unit price of the last piece."""
    summed: dict[str, QuoteLine] = {}
    for line in lines:
        if not line.resource_kind:
            continue
        before = summed.get(line.resource_kind)
        if before is None:
            summed[line.resource_kind] = line
            continue
        summed[line.resource_kind] = replace(
            line,
            qty=before.qty + line.qty,
            amount_cents=before.amount_cents + line.amount_cents,
            meta={**line.meta, "pieces": before.meta.get("pieces", 1) + 1},
        )
    return summed


def _describe(what: str, source: LateSource) -> str:
    claim = source.claim
    return (
        f"{what} of {claim.month.start:%B %Y} received after its invoice "
        f"{claim.invoice_number} was issued"
    )


def _context(source: LateSource, bucket: str) -> dict[str, Any]:
    claim = source.claim
    return {
        LATE_USAGE: {
            "invoice_id": claim.invoice_id,
            "invoice_number": claim.invoice_number,
            "period": claim.month.label,
            "bucket": bucket,
        },
        "deployment": claim.deployment_slug,
        "subscription_id": claim.subscription_id,
        "usage_period": [claim.month.start.isoformat(), claim.month.end.isoformat()],
    }


def _shrunk(source: LateSource, what: str, due: int, billed: Billed, warnings: list[str]) -> None:
    claim = source.claim
    warnings.append(
        f"{claim.deployment_slug}: {what} of {claim.month.label} costs {due} cents on its "
        f"terms now but {billed.cents} cents were billed; the difference is not credited "
        "automatically"
    )


def _metered_line(
    source: LateSource, bucket: str, due: QuoteLine | None, warnings: list[str]
) -> PricedLine | None:
    claim = source.claim
    billed = claim.billed.get(bucket, Billed())
    due_cents = due.amount_cents if due is not None else 0
    late_cents = due_cents - billed.cents
    if late_cents < 0:
        _shrunk(source, bucket, due_cents, billed, warnings)
    if late_cents <= 0 or due is None:
        return None
    kind = BILLING_KINDS[bucket]
    return PricedLine(
        kind=due.kind,
        resource_kind=bucket,
        description=_describe(kind.label, source),
        qty=max(due.qty - billed.qty, Decimal(0)),
        unit=due.unit,
        unit_price_cents=due.unit_price_cents,
        amount_cents=late_cents,
        meta={
            **_context(source, bucket),
            "used_now": due.meta.get("used"),
            "units_now": format_decimal(due.qty),
            "units_billed_before": format_decimal(billed.qty),
            "due_cents": due_cents,
            "billed_before_cents": billed.cents,
            "priced_as": due.meta,
            "rounding": (
                "the month's usage now priced on its own terms (rounded half-up once), minus "
                "the cents already billed for it"
            ),
        },
        deployment_id=claim.deployment_id,
        subscription_id=claim.subscription_id,
    )


def _passthrough_line(source: LateSource, warnings: list[str]) -> PricedLine | None:
    claim = source.claim
    billed = claim.billed.get(PASSTHROUGH, Billed())
    if source.llm is None and not billed.cents:
        return None
    if source.llm is not None and source.llm.currency != claim.currency:
        raise PricingError(
            f"deployment {claim.deployment_slug}'s LLM charges of {claim.month.label} are in "
            f"{source.llm.currency} but its invoice {claim.invoice_number} is in "
            f"{claim.currency}; currencies are never mixed on an invoice"
        )
    exact = source.llm.total if source.llm is not None else Decimal(0)
    exact_cents, due_cents = passthrough_cents(exact)
    late_cents = due_cents - billed.cents
    if late_cents < 0:
        _shrunk(source, "passthrough LLM usage", due_cents, billed, warnings)
    if late_cents <= 0:
        return None
    return PricedLine(
        kind=LINE_LLM_USAGE,
        resource_kind=LLM_RESOURCE_KIND,
        description=_describe("LLM usage", source),
        qty=max(exact - billed.qty, Decimal(0)),
        unit=claim.currency,
        unit_price_cents=CENTS_PER_UNIT,
        amount_cents=late_cents,
        meta={
            **_context(source, PASSTHROUGH),
            "charges_total": format_decimal(exact),
            "charges_billed_before": format_decimal(billed.qty),
            "charges_currency": claim.currency,
            "exact_cents": format_decimal(exact_cents),
            "due_cents": due_cents,
            "billed_before_cents": billed.cents,
            "rounding": (
                "the month's exact charges summed and rounded half-up to a cent once, minus the "
                "cents already billed for them"
            ),
        },
        deployment_id=claim.deployment_id,
        subscription_id=claim.subscription_id,
    )
