"""The demo's admin login: created once, remembered in the var/ directory, printed each run."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from arcadia_cloud.roles import OPERATORS

USERNAME = "admin"


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str
    created: bool


def ensure_admin_login() -> AdminLogin:
    path = settings.VAR_DIR / "demo_admin.json"
    user_model = get_user_model()
    stored = json.loads(path.read_text()) if path.exists() else None
    user = user_model.objects.filter(username=USERNAME).first()
    if user is not None and stored and user.check_password(stored["password"]):
        return AdminLogin(USERNAME, stored["password"], created=False)

    password = secrets.token_urlsafe(12)
    if user is None:
        user = user_model.objects.create_superuser(USERNAME, "admin@example.invalid", password)
    else:
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
    user.groups.add(Group.objects.get(name=OPERATORS))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"username": USERNAME, "password": password}))
    path.chmod(0o600)
    return AdminLogin(USERNAME, password, created=True)
