"""The credit kernel: notes oldest first, never below zero, other currencies left waiting."""

from __future__ import annotations

import datetime as dt

from pricing.credit import CREDIT_NOTE, CreditAvailable, credit_lines


def credit(note_id: int, cents: int, *, currency: str = "AUD", day: int = 1) -> CreditAvailable:
    return CreditAvailable(
        note_id=note_id,
        number=f"ARC-CN-2026-{note_id:06d}",
        currency=currency,
        issued_on=dt.date(2026, 5, day),
        available_cents=cents,
    )


def test_oldest_note_first_and_the_rest_carried():
    lines = credit_lines(
        [credit(2, 5000, day=9), credit(1, 3000, day=2)], currency="AUD", total_cents=6000
    )
    assert [(line.meta[CREDIT_NOTE]["id"], line.amount_cents) for line in lines] == [
        (1, -3000),
        (2, -3000),
    ]
    assert lines[1].meta[CREDIT_NOTE]["carried_forward_cents"] == 2000
    assert all(line.kind == "credit" for line in lines)


def test_never_below_zero_and_nothing_on_a_zero_invoice():
    assert (
        sum(
            line.amount_cents
            for line in credit_lines([credit(1, 9999)], currency="AUD", total_cents=100)
        )
        == -100
    )
    assert credit_lines([credit(1, 9999)], currency="AUD", total_cents=0) == ()


def test_credit_in_another_currency_waits():
    assert credit_lines([credit(1, 500, currency="USD")], currency="AUD", total_cents=1000) == ()
