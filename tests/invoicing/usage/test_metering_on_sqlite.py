"""Issue 17's Done-when: the three metering examples hold to the exact fraction on PostgreSQL
AND SQLite. The suite runs on PostgreSQL (where the portable path is also exercised by
pretending to be SQLite); this runs the same examples in a pytest of their own on a real
SQLite database (the quick start's: no DATABASE_URL)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.services import ROOT

EXAMPLES = (
    "test_a_droplet_active_until_ten_then_off_bills_ten_hours",
    "test_a_volume_resized_at_noon_on_the_16th_of_a_30_day_month",
    "test_a_droplet_moved_between_deployments_at_six_bills_each_its_share",
)


def test_the_three_examples_hold_on_a_real_sqlite_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env["ARCADIA_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/invoicing/usage/test_metering_history.py",
            "-k",
            " or ".join(EXAMPLES),
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # Each example passed on the portable path; its PostgreSQL variant skipped because the
    # database really is SQLite.
    assert re.search(r"\b3 passed, 3 skipped\b", output), output[-3000:]
    assert output.count("(this database is sqlite)") == 3, output[-3000:]
