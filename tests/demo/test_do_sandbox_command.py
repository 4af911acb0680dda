"""`manage.py do_sandbox` refuses bad options with a message naming the option."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command


def test_a_bad_period_names_the_option():
    with pytest.raises(CommandError, match="--period"):
        call_command("do_sandbox", period="2026-13", port=0)


def test_a_bad_fixture_names_the_file(tmp_path):
    fixture = tmp_path / "account.json"
    fixture.write_text(json.dumps({"droplet": []}))

    with pytest.raises(CommandError, match=r"--fixture .*unknown fixture keys"):
        call_command("do_sandbox", fixture=str(fixture), port=0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read it"),
        (json.dumps({"rules": []}), "a JSON list of rules"),
        (json.dumps([{"path_prefix": "/v2/droplets", "status": 900}]), "not an HTTP status"),
    ],
)
def test_a_bad_faults_file_names_the_problem(tmp_path, content, message):
    faults = tmp_path / "faults.json"
    faults.write_text(content)

    with pytest.raises(CommandError, match=message):
        call_command("do_sandbox", faults=str(faults), port=0)
