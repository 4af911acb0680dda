"""Inventory reads other apps build on: what metering reads of a day."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from inventory.selectors import (
    ALIVE_COLUMNS,
    attributed_resources_alive,
    attributed_resources_alive_sql,
)
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 14, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def day_of_resources():
    """A resource for every boundary of [START, END), attached or not; returns the names of
    those alive and attached."""
    deployment = make_deployment()
    cases = {
        # name: (first_seen_at, deleted_at, attached, alive in [START, END))
        "long-lived": (START - 30 * HOUR, None, True, True),
        "seen-at-the-last-moment": (END - dt.timedelta(microseconds=1), None, True, True),
        "seen-at-the-end": (END, None, True, False),
        "deleted-at-the-start": (START - HOUR, START, True, True),
        "deleted-just-before": (START - HOUR, START - dt.timedelta(microseconds=1), True, False),
        "deleted-mid-day": (START - HOUR, START + 5 * HOUR, True, True),
        "unattached": (START - HOUR, None, False, False),
    }
    for name, (first_seen_at, deleted_at, attached, _) in cases.items():
        make_resource(
            name=name,
            first_seen_at=first_seen_at,
            last_seen_at=first_seen_at,
            deleted_at=deleted_at,
            deployment=deployment if attached else None,
        )
    return sorted(name for name, case in cases.items() if case[3])


def test_attributed_resources_alive_during_a_day(day_of_resources):
    alive = attributed_resources_alive(start=START, end=END)
    assert sorted(alive.values_list("name", flat=True)) == day_of_resources


def test_the_sql_form_selects_the_same_rows_and_columns(day_of_resources):
    sql, params = attributed_resources_alive_sql(start=START, end=END)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) AS alive ORDER BY id", params)
        columns = tuple(column.name for column in cursor.description)
        rows = cursor.fetchall()
    assert columns == ALIVE_COLUMNS
    expected = attributed_resources_alive(start=START, end=END).order_by("id")
    attrs = ALIVE_COLUMNS.index("attrs")
    as_read = [  # a raw cursor reads jsonb as its text
        (*row[:attrs], json.loads(row[attrs]), *row[attrs + 1 :]) for row in rows
    ]
    assert as_read == list(expected.values_list(*ALIVE_COLUMNS))
    assert len(as_read) == len(day_of_resources)
