"""Inventory reads other apps build on: what metering reads of a day (the billed history)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from inventory.selectors import HISTORY_COLUMNS, attributed_history_sql, attributed_intervals
from pricing.kinds import RESOURCE_KINDS
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 14, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def day_of_resources():
    """A resource for every boundary of [START, END), attached or not; returns the names of
    those whose attributed history overlaps the day."""
    deployment = make_deployment()
    cases = {
        # name: (first_seen_at, deleted_at, attached, overlaps [START, END))
        "long-lived": (START - 30 * HOUR, None, True, True),
        "seen-in-the-last-second": (END - SECOND, None, True, True),
        "seen-at-the-end": (END, None, True, False),
        "deleted-at-the-start": (START - HOUR, START, True, False),  # ends at its last sighting
        "deleted-a-second-in": (START - HOUR, START + SECOND, True, True),
        "deleted-just-before": (START - HOUR, START - SECOND, True, False),
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


def names(resource_ids) -> list[str]:
    from inventory.models import CloudResource

    return sorted(CloudResource.objects.filter(pk__in=resource_ids).values_list("name", flat=True))


def test_attributed_intervals_overlapping_a_day(day_of_resources):
    rows = attributed_intervals(start=START, end=END, kinds=list(RESOURCE_KINDS))
    assert names(row[0] for row in rows) == day_of_resources


def test_the_sql_form_selects_the_same_rows_and_columns(day_of_resources):
    sql, params = attributed_history_sql(start=START, end=END)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) AS h ORDER BY resource_id, valid_from", params)
        columns = tuple(column.name for column in cursor.description)
        rows = cursor.fetchall()
    assert columns == HISTORY_COLUMNS
    assert rows == attributed_intervals(start=START, end=END, kinds=list(RESOURCE_KINDS))
    assert len(rows) == len(day_of_resources)
