"""Settings guards, admin groups, schedules and the demo's first steps."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from arcadia_cloud.schedules import PREFIX, declared_schedules
from tests.services import ROOT


def _boot(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ARCADIA_JWT_SECRET", "DEBUG"} and not k.startswith("SELLER_")
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "arcadia_cloud.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_the_default_secret_key():
    result = _boot({"ARCADIA_ENV": "production", "ARCADIA_JWT_SECRET": "x" * 64})
    assert result.returncode != 0
    assert "SECRET_KEY is the development default" in result.stderr


def test_production_refuses_the_default_jwt_secret():
    result = _boot({"ARCADIA_ENV": "production", "SECRET_KEY": "s" * 64})
    assert result.returncode != 0
    assert "ARCADIA_JWT_SECRET is the development default" in result.stderr


REAL_SECRETS = {
    "ARCADIA_ENV": "production",
    "SECRET_KEY": "s" * 64,
    "ARCADIA_JWT_SECRET": "j" * 64,
    "ALLOWED_HOSTS": "arcadia.example",
}
SELLER = {
    "SELLER_LEGAL_NAME": "Arcadia Cloud Pty Ltd",
    "SELLER_ABN": "53 004 085 616",
    "SELLER_ADDRESS": "1 Harbour St, Sydney NSW 2000",
    "SELLER_PAYMENT_INSTRUCTIONS": "BSB 062-000, account 1234 5678",
}


def test_production_boots_with_real_secrets():
    result = _boot({**REAL_SECRETS, **SELLER})
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_boot_without_the_seller():
    result = _boot({**REAL_SECRETS, **SELLER, "SELLER_ADDRESS": ""})
    assert result.returncode != 0
    assert "SELLER_ADDRESS not set" in result.stderr
    result = _boot(REAL_SECRETS)
    assert "SELLER_LEGAL_NAME, SELLER_ABN, SELLER_ADDRESS, SELLER_PAYMENT_INSTRUCTIONS" in (
        result.stderr
    )


def test_production_refuses_the_development_seller_and_a_bad_abn():
    result = _boot({**REAL_SECRETS, **SELLER, "SELLER_ABN": "51824753556"})
    assert result.returncode != 0 and "SELLER_ABN not set" in result.stderr
    result = _boot({**REAL_SECRETS, **SELLER, "SELLER_ABN": "12 345 678 901"})
    assert result.returncode != 0 and "is not a valid ABN" in result.stderr


def test_debug_is_off_by_default():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            "from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DEBUG"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.django_db
def test_migrations_create_operator_and_finance_groups():
    operators = Group.objects.get(name="operators")
    finance = Group.objects.get(name="finance")
    operator_perms = set(operators.permissions.values_list("content_type__app_label", "codename"))
    assert ("arcadia_cloud", "view_idempotencykey") in operator_perms
    assert ("django_celery_beat", "change_periodictask") in operator_perms
    finance_perms = set(finance.permissions.values_list("codename", flat=True))
    extra = {
        "mark_invoice_paid",
        "export_invoices",
        "create_credit_note",
        "push_receivable",
        "resend_document_email",
    }
    assert all(code.startswith("view_") or code in extra for code in finance_perms)
    assert extra <= finance_perms
    assert "void_invoice" not in finance_perms


@pytest.mark.django_db
def test_setup_schedules_is_idempotent():
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    first = PeriodicTask.objects.filter(name__startswith=PREFIX).count()
    assert first == len(declared_schedules()) >= 1
    call_command("setup_schedules", stdout=out)
    assert PeriodicTask.objects.filter(name__startswith=PREFIX).count() == first
    assert "0 created, 0 updated" in out.getvalue().splitlines()[-1]


@pytest.mark.django_db
def test_setup_schedules_disables_schedules_no_longer_declared():
    call_command("setup_schedules", stdout=StringIO())
    PeriodicTask.objects.create(
        name=f"{PREFIX}retired-job",
        task="arcadia_cloud.ping",
        interval=None,
        crontab=PeriodicTask.objects.first().crontab,
    )
    handmade = PeriodicTask.objects.create(
        name="operator-made",
        task="arcadia_cloud.ping",
        crontab=PeriodicTask.objects.first().crontab,
    )
    call_command("setup_schedules", stdout=StringIO())
    assert PeriodicTask.objects.get(name=f"{PREFIX}retired-job").enabled is False
    handmade.refresh_from_db()
    assert handmade.enabled is True


@pytest.mark.django_db
def test_demo_no_serve_prints_a_working_admin_login(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo", "--no-serve", "--period", "2026-04", stdout=out)
    text = out.getvalue()
    assert "April 2026" in text
    line = next(line for line in text.splitlines() if line.startswith("Admin login"))
    username, password = (part.strip() for part in line.split(":", 1)[1].split("/"))
    assert client.login(username=username, password=password)
    assert client.get("/admin/").status_code == 200
    again = StringIO()
    call_command("demo", "--no-serve", "--period", "2026-04", stdout=again)
    assert f"Admin login (reused): {username} / {password}" in again.getvalue()


def test_a_task_queued_by_name_runs_in_a_process_that_imported_no_tasks_module():
    """A web process imports no `tasks` module (autodiscovery is lazy): queuing by name must
    still find the task — it was a NotRegistered error in the robust on-commit callback."""
    script = (
        "import django; django.setup()\n"
        "from arcadia_cloud.celery import app, enqueue_on_commit\n"
        "assert 'dunning.advance_infrastructure_actions' not in app.tasks\n"
        "enqueue_on_commit('webhooks.retry_due')\n"  # outside a transaction: sent at once
        "print('ran')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arcadia_cloud.settings"}
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ran" in result.stdout and "NotRegistered" not in result.stderr


def test_a_served_process_freezes_its_start_up_objects():
    """gunicorn's workers load arcadia_cloud.wsgi: by then the URLconf (every view) is imported
    and what was loaded is out of the garbage collector's walks (arcadia_cloud.runtime)."""
    probe = (
        "import gc, sys; import arcadia_cloud.wsgi; "
        "print(gc.get_freeze_count(), 'analytics.api.views' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "arcadia_cloud.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    frozen, views_loaded = done.stdout.split()
    assert int(frozen) > 50_000 and views_loaded == "True"
