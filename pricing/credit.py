"""Credit from adjustment notes, applied to a tenant's next invoice(s).

An adjustment note that credits the tenant's balance leaves credit (its GST-inclusive total)
that the tenant's next invoices consume. The credit is applied AFTER tax: the note already
adjusted the GST of the invoice it corrects, so the next invoice's GST is on its own supplies,
unchanged, and the credit only reduces what the tenant has to pay — the invoice carries its
total (subtotal + tax, the supply) and, below it, one `credit` line per note it consumes
(a negative amount naming the note), so amount due = total - credit, never below zero. What a
note has left after that stays available for the invoices after it.

Pure like the rest of the kernel: the loader reads what each note still has available
(`invoicing.pricing_inputs`), this module decides what an invoice consumes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pricing.invoice import LINE_CREDIT, PricedLine

CREDIT_UNIT = "note"
# The meta keys that name the note a credit line consumes.
CREDIT_NOTE = "credit_note"


@dataclass(frozen=True)
class CreditAvailable:
    """What one note still has to give: its GST-inclusive total less what other non-void
    invoices have consumed of it (the invoice being regenerated excepted)."""

    note_id: int
    number: str
    currency: str
    issued_on: dt.date
    available_cents: int


def credit_lines(
    credits: Sequence[CreditAvailable], *, currency: str, total_cents: int
) -> tuple[PricedLine, ...]:
    """The credit lines an invoice of `total_cents` in `currency` carries: the notes oldest
    first (then by number), each consuming what it has up to what is still due, so the amount
    due never goes below zero. Credit in another currency is never applied (amounts in two
    currencies are never added); it waits for an invoice in its own."""
    due = total_cents
    lines: list[PricedLine] = []
    for credit in sorted(credits, key=lambda c: (c.issued_on, c.number, c.note_id)):
        if due <= 0:
            break
        if credit.currency != currency or credit.available_cents <= 0:
            continue
        applied = min(due, credit.available_cents)
        due -= applied
        lines.append(
            PricedLine(
                kind=LINE_CREDIT,
                resource_kind=None,
                description=f"Credit from adjustment note {credit.number}",
                qty=Decimal(1),
                unit=CREDIT_UNIT,
                unit_price_cents=-applied,
                amount_cents=-applied,
                meta={
                    CREDIT_NOTE: {
                        "id": credit.note_id,
                        "number": credit.number,
                        "available_cents": credit.available_cents,
                        "carried_forward_cents": credit.available_cents - applied,
                    }
                },
            )
        )
    return tuple(lines)
