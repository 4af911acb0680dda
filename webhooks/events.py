"""The event types a tenant app may subscribe to, and the payload version (bumped on any
incompatible change to a payload's `data`)."""

from __future__ import annotations

PAYLOAD_VERSION = "2026-12-01"

EVENT_TYPES = (
    "invoice.issued",
    "invoice.paid",
    "invoice.voided",
    "invoice.payment_reminder",
    "credit_note.issued",
    "deployment.state_changed",
    "subscription.changed",
    "trial.ending",
)
