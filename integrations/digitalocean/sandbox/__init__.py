"""Offline DigitalOcean: an API emulator serving account fixtures (see docs/sandbox.md)."""

from .emulator import (
    DEFAULT_TOKEN,
    DigitalOceanEmulator,
    RequestRecord,
    make_server,
    run_emulator,
)
from .faults import Fault, FaultPlan
from .fixture import DEFAULT_FIXTURE_PATH, FixtureError, load_fixture
from .generate import generate_account
from .invoice import CSV_HEADER, Invoice, InvoiceLine

__all__ = [
    "CSV_HEADER",
    "DEFAULT_FIXTURE_PATH",
    "DEFAULT_TOKEN",
    "DigitalOceanEmulator",
    "Fault",
    "FaultPlan",
    "FixtureError",
    "Invoice",
    "InvoiceLine",
    "RequestRecord",
    "generate_account",
    "load_fixture",
    "make_server",
    "run_emulator",
]
