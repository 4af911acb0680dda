"""`manage.py do_sandbox`: serve the offline DigitalOcean emulator until Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from arcadia_cloud.periods import parse_period
from integrations.digitalocean.sandbox import (
    DEFAULT_TOKEN,
    DigitalOceanEmulator,
    load_fixture,
    make_server,
)


class Command(BaseCommand):
    help = "Serve the DigitalOcean API emulator (docs/sandbox.md) on localhost until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--fixture", help="account fixture JSON (default: the sandbox account)")
        parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
        parser.add_argument("--period", help="invoice month, YYYY-MM (default: last month)")
        parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token to accept")
        parser.add_argument(
            "--faults", help='fault rules: a JSON list, or an object with a "faults" list'
        )

    def handle(self, *args, fixture, port, host, period, token, faults, **options):
        emulator = self._build_emulator(fixture, period, token)
        if faults:
            try:
                emulator.faults.load(_fault_rules(Path(faults)))
            except ValueError as exc:
                raise CommandError(f"--faults {faults}: {exc}") from exc
        try:
            server = make_server(emulator, host, port)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        base_url = f"http://{host}:{server.server_port}"
        self.stdout.write(
            self.style.SUCCESS(f"DigitalOcean emulator for {emulator.period:%B %Y} on {base_url}")
        )
        self.stdout.write(f"  DO_API_BASE_URL={base_url}")
        self.stdout.write(f"  DO_API_TOKEN={emulator.token}")
        if emulator.invoice is not None:
            self.stdout.write(f"  invoice {emulator.invoice.uuid}")
        self.stdout.write("Ctrl-C to stop.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        finally:
            server.server_close()

    @staticmethod
    def _build_emulator(
        fixture: str | None, period: str | None, token: str
    ) -> DigitalOceanEmulator:
        try:
            month = parse_period(period) if period else None
        except ValueError as exc:
            raise CommandError(f"--period: {exc}") from exc
        try:
            return DigitalOceanEmulator(load_fixture(fixture), token=token, period=month)
        except ValueError as exc:
            raise CommandError(f"--fixture {fixture or '(default)'}: {exc}") from exc


def _fault_rules(path: Path) -> list[Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read it: {exc}") from exc
    rules = config.get("faults") if isinstance(config, dict) else config
    if not isinstance(rules, list):
        raise ValueError('expected a JSON list of rules or an object with a "faults" list')
    return rules
