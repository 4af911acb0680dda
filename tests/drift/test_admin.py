"""The drift inbox and the provisioned-spec editor in the operators' admin."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from drift.models import CloudDrift, CloudProvisioned
from drift.services import drift_detect_all
from tests.drift.factories import make_droplet, make_provisioned, set_live

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:drift_clouddrift_changelist")
T0 = dt.datetime(2026, 5, 1, 10, 20, tzinfo=dt.UTC)


def accept_url(drift: CloudDrift) -> str:
    return reverse("admin:drift_clouddrift_accept", args=[drift.pk])


def change_url(drift: CloudDrift) -> str:
    return reverse("admin:drift_clouddrift_change", args=[drift.pk])


@pytest.fixture
def inbox():
    """An older open drift, a newer stale one, and a second open drift on another resource."""
    old_open = make_provisioned(make_droplet(name="db-main"), spec={"size_slug": "s-2vcpu-4gb"})
    drift_detect_all(now=T0)
    goes_stale = make_provisioned(make_droplet(name="web-edge"), spec={"region": "sgp1"})
    drift_detect_all(now=T0 + dt.timedelta(hours=1))
    set_live(goes_stale.resource, region="sgp1")
    drift_detect_all(now=T0 + dt.timedelta(hours=2))
    newer_open = make_provisioned(make_droplet(name="web-api", kind="volume"), spec={"vcpus": 4})
    drift_detect_all(now=T0 + dt.timedelta(hours=3))
    return old_open, goes_stale, newer_open


def listed(response) -> list[CloudDrift]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_open_drift_comes_first_then_newest(admin_client, inbox):
    rows = listed(admin_client.get(CHANGELIST))
    assert [(row.resource.name, row.status) for row in rows] == [
        ("web-api", "open"),
        ("db-main", "open"),
        ("web-edge", "stale"),
    ]


@pytest.mark.parametrize(
    ("column", "order"),
    [
        ("1", ["db-main", "web-edge", "web-api"]),  # resource, as created
        ("2", ["db-main", "web-edge", "web-api"]),  # kind: droplets in inbox order, volume
        ("3", ["web-edge", "db-main", "web-api"]),  # field: region, size_slug, vcpus
        ("-6", ["web-edge", "web-api", "db-main"]),  # status: stale, then open newest first
        ("-7", ["web-api", "web-edge", "db-main"]),  # detected, newest first
    ],
)
def test_columns_sort(admin_client, inbox, column, order):
    """Each sortable column orders the rows by it; equal values keep the inbox order (open
    first, newest first). Every expected order differs from the unsorted inbox's
    (web-api, db-main, web-edge), so a column that stopped sorting fails here."""
    rows = listed(admin_client.get(CHANGELIST, {"o": column}))
    assert [row.resource.name for row in rows] == order


def test_expected_and_actual_are_readable_columns(admin_client, inbox):
    content = admin_client.get(CHANGELIST).content.decode()
    assert "<code>&quot;s-2vcpu-4gb&quot;</code>" in content
    assert "<code>&quot;s-1vcpu-1gb&quot;</code>" in content


def test_filters_and_search(admin_client, inbox):
    assert [r.status for r in listed(admin_client.get(CHANGELIST, {"status__exact": "stale"}))] == [
        "stale"
    ]
    assert [r.field for r in listed(admin_client.get(CHANGELIST, {"field": "vcpus"}))] == ["vcpus"]
    by_kind = listed(admin_client.get(CHANGELIST, {"resource__kind": "volume"}))
    assert [r.resource.name for r in by_kind] == ["web-api"]
    assert [r.resource.name for r in listed(admin_client.get(CHANGELIST, {"q": "db-main"}))] == [
        "db-main"
    ]


def test_bulk_accept_records_the_operator_and_reports_refusals(admin_client, inbox):
    old_open = inbox[0]
    selected = list(CloudDrift.objects.values_list("pk", flat=True))
    response = admin_client.post(
        CHANGELIST, {"action": "accept_selected", "_selected_action": selected}, follow=True
    )
    messages = [str(message) for message in response.context["messages"]]
    assert "Accepted 2 drift(s); their specs were updated." in messages
    assert any("already stale" in message for message in messages)
    accepted = CloudDrift.objects.filter(status="accepted")
    assert set(accepted.values_list("resolved_by", flat=True)) == {"admin:admin"}
    assert accepted.count() == 2
    old_open.refresh_from_db()
    assert (old_open.spec, old_open.spec_version) == ({"size_slug": "s-1vcpu-1gb"}, 2)


def test_single_accept_from_the_drift_page(admin_client, inbox):
    drift = CloudDrift.objects.get(resource=inbox[0].resource)
    page = admin_client.get(change_url(drift)).content.decode()
    assert accept_url(drift) in page
    response = admin_client.post(accept_url(drift))
    assert response.status_code == 302
    drift.refresh_from_db()
    assert (drift.status, drift.resolved_by) == ("accepted", "admin:admin")
    assert accept_url(drift) not in admin_client.get(change_url(drift)).content.decode()
    again = admin_client.post(accept_url(drift), follow=True)
    assert any("already accepted" in str(m) for m in again.context["messages"])


def test_accept_is_post_only(admin_client, inbox):
    drift = CloudDrift.objects.filter(status="open").first()
    assert admin_client.get(accept_url(drift)).status_code == 405
    assert CloudDrift.objects.get(pk=drift.pk).status == "open"


def test_drift_rows_cannot_be_added_edited_or_deleted(admin_client, inbox):
    drift = CloudDrift.objects.filter(status="open").first()
    assert admin_client.get(reverse("admin:drift_clouddrift_add")).status_code == 403
    page = admin_client.get(change_url(drift)).content.decode()
    assert 'name="_save"' not in page
    assert 'name="expected"' not in page
    delete = reverse("admin:drift_clouddrift_delete", args=[drift.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_staff_without_the_accept_permission_cannot_accept(client, inbox):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_clouddrift"))
    client.force_login(viewer)
    drift = CloudDrift.objects.filter(status="open").first()
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "accept_selected" not in page.content.decode()
    assert client.post(accept_url(drift)).status_code == 403
    assert CloudDrift.objects.get(pk=drift.pk).status == "open"


# --- provisioned specs --------------------------------------------------------------------


def test_adding_a_spec_goes_through_the_service(admin_client):
    resource = make_droplet()
    response = admin_client.post(
        reverse("admin:drift_cloudprovisioned_add"),
        {"resource": resource.pk, "spec": json.dumps({"region": "syd1", "tags": ["web"]})},
    )
    assert response.status_code == 302, response.content
    provisioned = CloudProvisioned.objects.get()
    assert provisioned.spec == {"region": "syd1", "tags": ["web"]}
    assert (provisioned.spec_version, provisioned.recorded_by) == (1, "admin:admin")


def test_editing_a_spec_bumps_its_version(admin_client):
    provisioned = make_provisioned(spec={"region": "syd1"})
    url = reverse("admin:drift_cloudprovisioned_change", args=[provisioned.pk])
    page = admin_client.get(url).content.decode()
    assert "&quot;region&quot;: &quot;syd1&quot;" in page
    response = admin_client.post(url, {"spec": '{"region": "sgp1"}'})
    assert response.status_code == 302, response.content
    provisioned.refresh_from_db()
    assert (provisioned.spec, provisioned.spec_version) == ({"region": "sgp1"}, 2)
    assert provisioned.recorded_by == "admin:admin"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('{"last_seen_at": "x"}', "sync bookkeeping"),
        ("{not json", "Enter a valid JSON"),
    ],
)
def test_an_invalid_spec_is_a_form_error(admin_client, spec, message):
    resource = make_droplet()
    response = admin_client.post(
        reverse("admin:drift_cloudprovisioned_add"), {"resource": resource.pk, "spec": spec}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CloudProvisioned.objects.exists()


def test_a_second_spec_for_the_same_resource_is_refused(admin_client):
    provisioned = make_provisioned()
    response = admin_client.post(
        reverse("admin:drift_cloudprovisioned_add"),
        {"resource": provisioned.resource_id, "spec": '{"region": "sgp1"}'},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert CloudProvisioned.objects.get().spec_version == 1
