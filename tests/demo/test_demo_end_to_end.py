"""`manage.py demo --no-serve` end to end, on PostgreSQL and on the SQLite quick start.

The expected invoices and margins are derived here, independently, from the emulator's account
fixture and the catalog of SPEC §8 (prices written out below, not read from the database), using
the metering and pricing rules of SPEC §10-§14 — not copied from the demo's output.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command

from integrations.digitalocean.sandbox import DigitalOceanEmulator, load_fixture
from tests.services import ROOT

PERIOD = dt.date(2026, 10, 1)
DAYS = 31
USD_AUD = Decimal("1.55")
GST = Decimal("0.10")

# SPEC §8 seed, in AUD cents.
PLANS = {
    "studio": {"base": 5000, "droplet_hours": 1488, "snapshot_gb_month": 50, "dns_zones": 5},
    "pro": {"base": 12000, "droplet_hours": 3720, "snapshot_gb_month": 200, "dns_zones": 20},
    "starter": {"base": 2000, "droplet_hours": 744, "snapshot_gb_month": 10, "dns_zones": 1},
}
DROPLET_HOUR_OVERAGE = 1
LIST_PRICES = {
    "volume_gb_month": 15,
    "backup_gb_month": 5,
    "load_balancer_hours": 2,
    "floating_ip_hours": 1,
    # issue 17: every kind inventory syncs is metered (catalog seed list prices)
    "app_instance_hours": 1,
}
# Issue 18: the seed prices GPU droplets, database and Kubernetes nodes cost-plus — DigitalOcean's
# hourly list price of the size (USD) x (1 + markup) x the month's USD→AUD rate, in AUD cents an
# hour, exact; each line is rounded half-up once. The list prices are the emulator's (/v2/sizes:
# monthly / 672 at 5 places) and the documented database table (USD 30 a month / 672 at 9).
COST_PLUS_CENTS_AN_HOUR = {
    "gpu_droplet_hours": Fraction("6.74") * 100 * Fraction("1.25") * Fraction(str(USD_AUD)),
    "database_node_hours": Fraction("0.044642857")
    * 100
    * Fraction("1.30")
    * Fraction(str(USD_AUD)),
    "kubernetes_node_hours": Fraction("0.03571") * 100 * Fraction("1.30") * Fraction(str(USD_AUD)),
}
# The demo's tenants: (tenant, DigitalOcean project, segments of the month it is billed for:
# (plan, add-on cents, first day, last day)). Acme upgrades studio → pro on the 16th (two
# segments, each with its share of the allowance); Initech starts on the 15th with a 7-day
# trial, billed from the 22nd.
ACME_UPGRADE_DAY = 16
INITECH_START, INITECH_TRIAL_DAYS = 15, 7
TENANTS = [
    (
        "acme",
        "Acme Corp",
        (("studio", 750, 1, ACME_UPGRADE_DAY - 1), ("pro", 750, ACME_UPGRADE_DAY, DAYS)),
    ),
    ("globex", "Globex", (("pro", 0, 1, DAYS),)),
    ("initech", "Initech", (("starter", 0, INITECH_START + INITECH_TRIAL_DAYS, DAYS),)),
]


def cents(amount) -> int:
    return int(Decimal(amount).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def frac_cents(value: Fraction) -> int:
    return cents(Decimal(value.numerator) / Decimal(value.denominator))


def alive_days(obj: dict, first_day: int, last_day: int = DAYS) -> range:
    """Days of [first_day, last_day] a fixture object existed and was attached. Destroyed on
    day d means gone from 00:00 that day: last billed day d-1."""
    lifetime = obj.get("_lifetime") or {}
    start = max(first_day, lifetime.get("created_day", 1))
    end = min(last_day, lifetime.get("destroyed_day", DAYS + 1) - 1)
    return range(start, end + 1)


# Issue 17: the fixture's mid-day changes (`_changes`: day, time HH:MM, the fields set then) are
# billed as they happened. Read here from the fixture, instant by instant.
MONTH_START = dt.datetime.combine(PERIOD, dt.time.min, tzinfo=dt.UTC)
MONTH_END = MONTH_START + dt.timedelta(days=DAYS)


def day_start(day: int) -> dt.datetime:
    return MONTH_START + dt.timedelta(days=day - 1)


def change_instant(change: dict) -> dt.datetime:
    hours, minutes = (int(part) for part in change.get("time", "00:00").split(":"))
    return day_start(change["day"]) + dt.timedelta(hours=hours, minutes=minutes)


def states(obj: dict) -> list[tuple[dt.datetime, dt.datetime, dict]]:
    """[start, end) pieces of the month with the object's fields then (its `_changes` applied),
    within its lifetime."""
    lifetime = obj.get("_lifetime") or {}
    start = day_start(lifetime["created_day"]) if "created_day" in lifetime else MONTH_START
    end = day_start(lifetime["destroyed_day"]) if "destroyed_day" in lifetime else MONTH_END
    pieces, current, since = [], dict(obj), start
    for change in sorted(obj.get("_changes", []), key=change_instant):
        moment = min(max(change_instant(change), start), end)
        pieces.append((since, moment, dict(current)))
        current.update(change["set"])
        since = moment
    pieces.append((since, end, current))
    return [(lo, hi, state) for lo, hi, state in pieces if hi > lo]


def overlap_seconds(lo: dt.datetime, hi: dt.datetime, first: dt.datetime, last: dt.datetime):
    return max(0, int((min(hi, last) - max(lo, first)).total_seconds()))


def project_pieces(fixture: dict, urn: str) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """When the URN was assigned to which project (by name), over the month."""
    project_of = {p["id"]: p["name"] for p in fixture["projects"]}
    for assignment in fixture["project_resources"]:
        if assignment["urn"] == urn:
            return [(lo, hi, project_of[a["project_id"]]) for lo, hi, a in states(assignment)]
    return []


def final_project(fixture: dict, urn: str) -> str | None:
    pieces = project_pieces(fixture, urn)
    return pieces[-1][2] if pieces else None


def droplet_hours(fixture, droplet, project, first_day, last_day) -> Fraction:
    """Hours of [first_day, last_day] the droplet was active, alive and in `project`."""
    first, last = day_start(first_day), day_start(last_day + 1)
    seconds = 0
    for p_lo, p_hi, name in project_pieces(fixture, f"do:droplet:{droplet['id']}"):
        if name != project:
            continue
        for lo, hi, state in states(droplet):
            if state["status"] == "active":
                seconds += overlap_seconds(max(lo, p_lo), min(hi, p_hi), first, last)
    return Fraction(seconds, 3600)


def gb_months(volume: dict, first_day: int, last_day: int) -> Fraction:
    """A volume's size integrated over [first_day, last_day], in GB-months (of this month)."""
    first, last = day_start(first_day), day_start(last_day + 1)
    gb_seconds = sum(
        state["size_gigabytes"] * overlap_seconds(lo, hi, first, last)
        for lo, hi, state in states(volume)
    )
    return Fraction(gb_seconds, 86_400 * DAYS)


def is_gpu(droplet: dict) -> bool:
    return bool(droplet.get("gpu_info") or (droplet.get("size") or {}).get("gpu_info"))


def is_k8s_worker(droplet: dict) -> bool:
    return any(tag.startswith("k8s:") for tag in droplet.get("tags", []))


def expected_invoices(llm_cents: dict[str, int]) -> dict[str, dict[str, int]]:
    fixture = load_fixture()
    project_of = {p["id"]: p["name"] for p in fixture["projects"]}
    assigned = {a["urn"]: project_of[a["project_id"]] for a in fixture["project_resources"]}
    droplets = {str(d["id"]): d for d in fixture["droplets"]}
    result = {}
    for tenant, project, segments in TENANTS:
        # its droplets (any time this month), and the workers of its Kubernetes clusters (tagged
        # k8s:<cluster-id>)
        mine = [
            d
            for d in droplets.values()
            if project in {p for *_, p in project_pieces(fixture, f"do:droplet:{d['id']}")}
            or any(
                assigned.get(f"do:kubernetes:{tag[4:]}") == project
                for tag in d.get("tags", [])
                if tag.startswith("k8s:")
            )
        ]
        # Issue 17: workers bill through their cluster (node hours), GPU droplets as GPU hours.
        plain = [d for d in mine if not is_gpu(d) and not is_k8s_worker(d)]
        gpus = [d for d in mine if is_gpu(d) and not is_k8s_worker(d)]
        clusters = [
            c
            for c in fixture["kubernetes_clusters"]
            if assigned.get(f"do:kubernetes:{c['id']}") == project
        ]
        databases = [
            db for db in fixture["databases"] if assigned.get(f"do:dbaas:{db['id']}") == project
        ]
        apps = [a for a in fixture["apps"] if project_of.get(a.get("project_id")) == project]
        subtotal = 0
        for plan_code, addon, first_day, last_day in segments:
            plan = PLANS[plan_code]
            days = last_day - first_day + 1
            # A month of several segments shares each allowance by days; one keeps it whole.
            share = Fraction(days, DAYS) if len(segments) > 1 else Fraction(1)

            def alive(obj, first_day=first_day, last_day=last_day) -> int:
                return len(alive_days(obj, first_day, last_day))

            hours = sum(
                (droplet_hours(fixture, d, project, first_day, last_day) for d in plain),
                Fraction(0),
            )
            gpu_hours = sum(
                (droplet_hours(fixture, d, project, first_day, last_day) for d in gpus),
                Fraction(0),
            )
            node_hours = {
                "gpu_droplet_hours": gpu_hours,
                "kubernetes_node_hours": sum(
                    sum(pool["count"] for pool in cluster["node_pools"]) * 24 * alive(cluster)
                    for cluster in clusters
                ),
                "database_node_hours": sum(
                    database["num_nodes"] * 24 * alive(database) for database in databases
                ),
            }
            for kind, hours_of_kind in node_hours.items():
                if hours_of_kind:
                    subtotal += frac_cents(hours_of_kind * COST_PLUS_CENTS_AN_HOUR[kind])
            for app in apps:
                instances = sum(
                    component["instance_count"]
                    for kind in ("services", "workers", "jobs")
                    for component in app["spec"].get(kind, [])
                )
                subtotal += instances * 24 * alive(app) * LIST_PRICES["app_instance_hours"]
            backup_gb_days = sum(
                (
                    Fraction(str(backup["size_gigabytes"])) * alive(backup)
                    for droplet in mine
                    for backup in droplet.get("_backups", [])
                ),
                Fraction(0),
            )
            # Each recurring line (plan, add-on) is prorated and rounded on its own.
            subtotal += frac_cents(Fraction(plan["base"] * days, DAYS))
            subtotal += frac_cents(Fraction(addon * days, DAYS)) if addon else 0
            over = max(Fraction(0), hours - plan["droplet_hours"] * share)
            subtotal += frac_cents(over * DROPLET_HOUR_OVERAGE)
            subtotal += frac_cents(backup_gb_days / DAYS * LIST_PRICES["backup_gb_month"])
            for volume in fixture["volumes"]:
                if assigned.get(f"do:volume:{volume['id']}") == project:
                    volume_gb_months = gb_months(volume, first_day, last_day)
                    subtotal += frac_cents(volume_gb_months * LIST_PRICES["volume_gb_month"])
            for lb in fixture["load_balancers"]:
                if assigned.get(f"do:loadbalancer:{lb['id']}") == project:
                    nodes = lb["size_unit"]  # billed per node (issue 17)
                    subtotal += nodes * 24 * days * LIST_PRICES["load_balancer_hours"]
            for ip in fixture["reserved_ips"]:
                attached = ip.get("_droplet_id")
                if assigned.get(f"do:floatingip:{ip['ip']}") == project and not attached:
                    subtotal += 24 * days * LIST_PRICES["floating_ip_hours"]
        subtotal += llm_cents.get(tenant, 0)
        tax = cents(Decimal(subtotal) * GST)
        result[tenant] = {"subtotal": subtotal, "tax": tax, "total": subtotal + tax}
    return result


# Measured at the source (issue 17). The emulator serves each active droplet a constant public
# outbound rate of (id mod 7 + 1) / 4 Mbps (0 when powered off): a day is rate x 86,400 s / 8 /
# 1000 GB. Bucket sizes are the fixture's object sizes (bytes, GB = 10^9 bytes), every day.
SECONDS_PER_DAY = 86_400


def expected_measured() -> dict[str, dict[str, Decimal]]:
    """Each tenant's month of measured usage, from the fixture: days attached (from its start
    day) x the day's bucket GB ÷ 31, and x each droplet's day of traffic."""
    fixture = load_fixture()
    project_of = {p["id"]: p["name"] for p in fixture["projects"]}
    assigned = {a["urn"]: project_of[a["project_id"]] for a in fixture["project_resources"]}
    result = {}
    for tenant, project, _segments in TENANTS:
        start_day = INITECH_START if tenant == "initech" else 1
        bandwidth = Fraction(0)
        for droplet in fixture["droplets"]:
            mbps = Fraction(droplet["id"] % 7 + 1, 4)
            for day in range(start_day, DAYS + 1):
                if day_holder(fixture, droplet, day) != project:
                    continue
                first, last = day_start(day), day_start(day + 1)
                active_seconds = sum(
                    overlap_seconds(lo, hi, first, last)
                    for lo, hi, state in states(droplet)
                    if state["status"] == "active"
                )
                bandwidth += mbps * active_seconds / 8 / 1000
        spaces = Fraction(0)
        for bucket in fixture["spaces_buckets"]:
            if assigned.get(f"do:space:{bucket['name']}") == project:
                gb = Fraction(sum(bucket["object_sizes"]), 10**9)
                spaces += gb * (DAYS - start_day + 1) / DAYS
        result[tenant] = {
            "spaces_gb_month": Decimal(spaces.numerator) / spaces.denominator,
            "bandwidth_gb": Decimal(bandwidth.numerator) / bandwidth.denominator,
        }
    return result


def day_holder(fixture: dict, droplet: dict, day: int) -> str | None:
    """The project holding the droplet longest that day (the later one on a tie): its day of
    traffic is that tenant's. A Kubernetes worker is its cluster's project's."""
    for tag in droplet.get("tags", []):
        if tag.startswith("k8s:") and tag != "k8s:worker":
            return final_project(fixture, f"do:kubernetes:{tag[4:]}")
    first, last = day_start(day), day_start(day + 1)
    held = [
        (overlap_seconds(lo, hi, first, last), lo, name)
        for lo, hi, name in project_pieces(fixture, f"do:droplet:{droplet['id']}")
    ]
    held = [entry for entry in held if entry[0] > 0]
    return max(held)[2] if held else None


def parse_measured(text: str) -> dict[str, dict[str, Decimal]]:
    measured, tenant = {}, None
    for line in text.splitlines():
        header = re.match(r"^  (\w+)\s+\w+\s+subtotal ", line)
        if header:
            tenant = header[1]
        row = re.match(
            r"^      measured  Spaces storage ([\d.]+) GB-month, outbound bandwidth ([\d.]+) GB",
            line,
        )
        if row:
            measured[tenant] = {
                "spaces_gb_month": Decimal(row[1]),
                "bandwidth_gb": Decimal(row[2]),
            }
    return measured


def expected_cogs_usd() -> dict[str, int]:
    """COGS per tenant: the DigitalOcean invoice's lines of its project (each is tied to its
    resource, by id where the JSON invoice gives one: the managed database too)."""
    invoice = DigitalOceanEmulator(period=PERIOD).invoice
    fixture = load_fixture()

    def project_of(line) -> str:
        """A droplet moved to another tenant's project mid-month: its line is the tenant's
        holding it when the invoice is ingested (the line names its first project)."""
        moved = line.resource_id and final_project(fixture, f"do:droplet:{line.resource_id}")
        return moved or line.project_name

    cogs = {}
    for tenant, project, *_ in TENANTS:
        cogs[tenant] = sum(
            line.amount_cents for line in invoice.lines if project_of(line) == project
        )
    cogs["TOTAL"] = sum(line.amount_cents for line in invoice.lines if line.product != "Taxes")
    return cogs


MONEY = r"(-?)(AUD|USD) ([\d,]+)\.(\d\d)"


def parse_money(text: str) -> int:
    sign, _, whole, part = re.fullmatch(MONEY, text).groups()
    value = int(whole.replace(",", "")) * 100 + int(part)
    return -value if sign else value


def parse_output(text: str) -> tuple[dict, dict]:
    invoices, margins = {}, {}
    for match in re.finditer(
        rf"^  (\w+)\s+\w+\s+subtotal\s+({MONEY})\s+GST\s+({MONEY})\s+total\s+({MONEY})$", text, re.M
    ):
        invoices[match[1]] = {
            "subtotal": parse_money(match[2]),
            "tax": parse_money(match[7]),
            "total": parse_money(match[12]),
        }
    for match in re.finditer(
        rf"^  (\w+)\s+({MONEY})\s+({MONEY})\s+({MONEY})\s+({MONEY})\s+(-?[\d.]+)%$", text, re.M
    ):
        margins[match[1]] = {
            "revenue": parse_money(match[2]),
            "cogs_usd": parse_money(match[7]),
            "cogs": parse_money(match[12]),
            "margin": parse_money(match[17]),
        }
    return invoices, margins


def llm_passthrough_cents() -> dict[str, int]:
    """Passthrough LLM charges summed exactly, rounded once (SPEC §12)."""
    from django.db.models import Sum

    from invoicing.models import LLMUsageEvent

    total = LLMUsageEvent.objects.filter(tenant_id="globex").aggregate(total=Sum("charge"))["total"]
    return {"globex": cents(total * 100)}


def check_getting_paid(output: str) -> None:
    """The dunning story: acme walks every step once, is reinstated on payment, and its app
    received every event signed (the receiver checks with the reference verifier)."""
    story = output.split("getting paid", 1)[1].split("Tenant invoices", 1)[0]
    for step in ("reminder -3", "reminder +1", "past_due", "reminder +7", "suspended"):
        assert len(re.findall(rf": {re.escape(step)}$", story, re.M)) == 1, step
    # acme's droplets at the month's end (globex-api-2 joined it on the 20th), powered on or off
    fixture = load_fixture()
    droplets = sum(
        1
        for d in fixture["droplets"]
        if final_project(fixture, f"do:droplet:{d['id']}") == "Acme Corp"
        and "destroyed_day" not in (d.get("_lifetime") or {})
    )
    assert f"power-off of {droplets} droplet(s) waiting for an operator's Confirm" in story
    assert f"paid: acme/acme-shop reinstated; {droplets} power-off(s) dismissed" in story
    received = re.findall(r"^    ([a-z_.]+)\s.*signature verified$", story, re.M)
    assert received == [
        "invoice.issued",
        "invoice.payment_reminder",
        "invoice.payment_reminder",
        "deployment.state_changed",
        "invoice.payment_reminder",
        "deployment.state_changed",
        "invoice.paid",
        "deployment.state_changed",
    ]
    assert "SIGNATURE FAILED" not in story
    assert re.findall(r"^  acme\s+paid\s+subtotal", output, re.M)


def check_figures(output: str, llm_cents: dict[str, int]) -> None:
    invoices, margins = parse_output(output)
    assert invoices == expected_invoices(llm_cents)
    cogs_usd = expected_cogs_usd()
    revenue_total = sum(inv["subtotal"] for inv in invoices.values())
    for tenant, row in margins.items():
        revenue = revenue_total if tenant == "TOTAL" else invoices[tenant]["subtotal"]
        cogs_aud = cents(Decimal(cogs_usd[tenant]) * USD_AUD)
        assert row == {
            "revenue": revenue,
            "cogs_usd": cogs_usd[tenant],
            "cogs": cogs_aud,
            "margin": revenue - cogs_aud,
        }, tenant
    assert set(margins) == {"acme", "globex", "initech", "TOTAL"}
    # Spaces storage and bandwidth, measured at the source, are on every tenant's invoice.
    expected = {
        tenant: {kind: qty.quantize(Decimal("0.000001")) for kind, qty in usage.items()}
        for tenant, usage in expected_measured().items()
    }
    assert parse_measured(output) == expected
    assert all(usage["bandwidth_gb"] > 0 for usage in expected.values())
    assert expected["acme"]["spaces_gb_month"] > 0 and expected["globex"]["spaces_gb_month"] > 0
    # The mid-month upgrade and the trial are in the printed lines, with their days.
    assert "Studio plan (version 1), 1-15 October 2026" in output
    assert "Pro plan (version 1), 16-31 October 2026" in output
    assert "Starter plan (version 1), 22-31 October 2026" in output
    check_getting_paid(output)
    # Issue 17: the power-off, the resize and the move, with their hours on each side.
    changes = expected_change_lines()
    assert len(changes) == 4
    printed = output.split("Changes observed mid-day", 1)[1].splitlines()
    for line in changes:
        assert line in printed, (line, printed[:8])
    assert "acme-db-1      size_slug  expected s-4vcpu-8gb    actual s-2vcpu-4gb" in output
    check_documents(output, invoices)


SLUGS = {"Acme Corp": "acme-shop", "Globex": "globex-api", "Initech": "initech-www"}


def qty_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    decimal = Decimal(value.numerator) / value.denominator
    return f"{value.numerator}/{value.denominator} = {decimal:.6f}"


def expected_change_lines() -> list[str]:
    """The demo's account of each mid-day change, from the fixture's `_changes`: the day's
    hours (or GB-months) on each side, per deployment."""
    fixture = load_fixture()
    lines = []

    def when(change) -> str:
        return f"at {change['time']} on {change['day']} Oct"

    for droplet in fixture["droplets"]:
        urn = f"do:droplet:{droplet['id']}"
        project = final_project(fixture, urn)
        for change in droplet.get("_changes", []):
            before, after = droplet["status"], change["set"]["status"]
            hours = droplet_hours(fixture, droplet, project, change["day"], change["day"])
            lines.append(
                f"  {droplet['name']:<14} {before} → {after} {when(change)}: "
                f"{qty_text(hours)} droplet_hours to {SLUGS[project]} that day"
            )
    for volume in fixture["volumes"]:
        project = final_project(fixture, f"do:volume:{volume['id']}")
        for change in volume.get("_changes", []):
            before, after = volume["size_gigabytes"], change["set"]["size_gigabytes"]
            day_gb_months = gb_months(volume, change["day"], change["day"])
            lines.append(
                f"  {volume['name']:<14} resized {before} → {after} GB {when(change)}: "
                f"{qty_text(day_gb_months)} volume_gb_month to {SLUGS[project]} that day"
            )
    droplets = {f"do:droplet:{d['id']}": d for d in fixture["droplets"]}
    for assignment in fixture["project_resources"]:
        droplet = droplets.get(assignment["urn"])
        for change in assignment.get("_changes", []) if droplet else ():
            (_, _, old), (_, _, new) = project_pieces(fixture, assignment["urn"])
            day = change["day"]

            def usage(first, last, old=old, new=new, droplet=droplet) -> str:
                hours = {p: droplet_hours(fixture, droplet, p, first, last) for p in (old, new)}
                return "; ".join(
                    f"{qty_text(hours[p])} droplet_hours to {SLUGS[p]}"
                    for p in sorted((old, new), key=SLUGS.get)
                )

            lines.append(
                f"  {droplet['name']:<14} moved {SLUGS[old]} → {SLUGS[new]} {when(change)}: "
                f"{usage(day, day)} that day"
            )
            lines.append(f"  {'':<14} the month: {usage(1, DAYS)}")
    return lines


def check_documents(output: str, invoices: dict) -> None:
    """The month's invoices issued with their PDFs on disk, one line of acme's credited by an
    adjustment note (1,000c ex-GST → GST 100c, 1,100c), and acme's next invoice (November,
    over by the suite's clock) consuming that credit after its GST."""
    from pypdf import PdfReader

    # Issued, then paid in the getting-paid story (check_getting_paid); the note came after.
    assert re.search(r"^  acme\s+paid\s+subtotal", output, re.M)
    paths = re.findall(r"^  tax invoice (ARC-\d{4}-\d{6}) .*: (\S+\.pdf)$", output, re.M)
    assert len(paths) == 3
    for number, path in paths:
        text = " ".join(PdfReader(path).pages[0].extract_text().split())
        assert "Tax invoice" in text and number in text and "ABN" in text
    note = re.search(
        r"^  adjustment note (ARC-CN-\d{4}-\d{6}) \(against (ARC-\S+), GST effect -AUD 1\.00\): "
        r"(\S+\.pdf)$",
        output,
        re.M,
    )
    assert note, output[-3000:]
    note_text = " ".join(PdfReader(note[3]).pages[0].extract_text().split())
    assert "Adjustment note" in note_text and note[2] in note_text
    assert "Total credited (including GST) -AUD 11.00" in note_text
    acme_net = parse_money(
        re.search(rf"tax invoice {note[2]} \(acme, net after notes ({MONEY})\)", output)[1]
    )
    assert acme_net == invoices["acme"]["total"] - 1100
    assert re.search(
        rf"^      credit\s+Credit from adjustment note {note[1]}\s+-AUD 11\.00$", output, re.M
    )
    due = re.search(
        rf"^      amount due ({MONEY}) \(credit AUD 11\.00 consumed after GST\)$", output, re.M
    )
    # November's recurring charges — acme is on pro since its October upgrade, with the storage
    # add-on — plus GST, less the credit (consumed after GST).
    recurring = PLANS["pro"]["base"] + 750
    assert parse_money(due[1]) == recurring + cents(recurring * GST) - 1100


def check_invoiced_quantities() -> None:
    """acme's invoiced quantities are the fixture's: droplet hours beyond the first segment's
    allowance (acme-web-2 off from 14:00 on the 9th, globex-api-2 not yet acme's) and the
    volume's GB-months on each side of its resize on the 16th."""
    from invoicing.models import TenantInvoiceLine

    fixture = load_fixture()
    places = Decimal("0.000001")  # usage quantities: the exact sum, rounded once to 6 places
    lines = TenantInvoiceLine.objects.filter(
        invoice__tenant_id="acme", invoice__period_start=PERIOD
    ).order_by("position")
    _, project, segments = TENANTS[0]
    plain = [d for d in fixture["droplets"] if not is_gpu(d) and not is_k8s_worker(d)]
    (_, _, first, last), _ = segments
    hours = sum(droplet_hours(fixture, d, project, first, last) for d in plain)
    allowance = Fraction(PLANS["studio"]["droplet_hours"] * (last - first + 1), DAYS)
    (overage,) = lines.filter(kind="overage", resource_kind="droplet_hours")
    assert Fraction(overage.qty) == hours - allowance
    (volume,) = fixture["volumes"]
    volume_lines = list(lines.filter(resource_kind="volume_gb_month"))
    assert [line.qty for line in volume_lines] == [
        decimal_of(gb_months(volume, first, last)).quantize(places, ROUND_HALF_UP)
        for _, _, first, last in segments
    ]


def decimal_of(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


@pytest.mark.django_db
def test_demo_on_postgresql_prints_the_month_computed_from_the_fixture(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo", "--no-serve", "--period", "2026-10", stdout=out)
    output = out.getvalue()
    check_figures(output, llm_passthrough_cents())
    assert llm_passthrough_cents()["globex"] > 0
    check_invoiced_quantities()
    again = StringIO()
    call_command("demo", "--no-serve", "--period", "2026-10", stdout=again)
    assert "reused" in again.getvalue()
    assert parse_output(again.getvalue()) == parse_output(output)


def test_demo_on_the_sqlite_quick_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env["ARCADIA_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--period", "2026-10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "arcadia.sqlite3").exists()
    invoices, margins = parse_output(result.stdout)
    # LLM charges come from the gateway events the demo recorded in that SQLite file: read them.
    import sqlite3

    with sqlite3.connect(tmp_path / "arcadia.sqlite3") as db:
        charges = [
            Decimal(str(row[0]))
            for row in db.execute("SELECT charge FROM llm_usage_events WHERE tenant_id = 'globex'")
        ]
    check_figures(result.stdout, {"globex": cents(sum(charges) * 100)})
    assert invoices and margins
