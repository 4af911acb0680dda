"""The catalog's generation and what is kept under it (catalog.cache): every write to a catalog
table, by any path, moves the generation to a number never seen before, and a quote — whose
catalog side is kept — prices the catalog as it is at that moment."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from catalog.cache import CatalogCache, catalog_generation
from catalog.models import Addon, CatalogGeneration, Plan, PlanVersion, ResourcePrice
from catalog.services import addon_update

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the generation is kept by PostgreSQL triggers; SQLite caches nothing")


@pytest.fixture
def seeded():
    call_command("seed_catalog", verbosity=0)


def quote(client, **body):
    body = {"plan_code": "studio", "addons": ["storage_50gb"], **body}
    response = client.post("/api/v1/quote", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_every_catalog_table_is_watched():
    """A catalog model added later without its trigger would serve stale quotes: every table
    of the catalog app but the generation's own is in the trigger list."""
    tables = {
        model._meta.db_table
        for model in apps.get_app_config("catalog").get_models()
        if model is not CatalogGeneration
    }
    assert tables == set(CatalogGeneration.TABLES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE trigger_name = 'catalog_generation_bump'"
        )
        assert {row[0] for row in cursor.fetchall()} == tables


def test_every_write_path_moves_the_generation_to_a_new_number(seeded):
    seen = [catalog_generation()]
    addon = Addon.objects.get(code="storage_50gb")

    def moved():
        now = catalog_generation()
        assert now is not None and now not in seen
        seen.append(now)

    Plan.objects.create(code="new", name="New")  # an INSERT
    moved()
    Addon.objects.filter(pk=addon.pk).update(price_cents=801)  # a queryset update, no save()
    moved()
    addon_update(addon=addon, price_cents=802)  # the service
    moved()
    price = ResourcePrice.objects.first()
    ResourcePrice.objects.filter(pk=price.pk).delete()  # a DELETE
    moved()
    ResourcePrice.objects.bulk_create([price])  # a bulk write
    moved()
    Plan.objects.filter(code="no-such-plan").update(name="x")  # a statement that hits no row
    moved()
    before = catalog_generation()
    Addon.objects.count()  # a read
    assert catalog_generation() == before


def test_a_rolled_back_write_never_lends_its_number_to_a_later_one(seeded):
    before = catalog_generation()
    with transaction.atomic():
        Plan.objects.create(code="gone", name="Gone")
        inside = catalog_generation()
        transaction.set_rollback(True)
    assert catalog_generation() == before  # the write never happened
    Plan.objects.create(code="kept", name="Kept")
    assert catalog_generation() not in (before, inside)


def test_the_cache_computes_again_when_the_generation_moves(seeded):
    cache, computed = CatalogCache(), []

    def compute():
        computed.append(Addon.objects.get(code="storage_50gb").price_cents)
        return computed[-1]

    assert cache.get("price", compute) == cache.get("price", compute)
    assert len(computed) == 1  # kept
    Addon.objects.filter(code="storage_50gb").update(price_cents=999)
    assert cache.get("price", compute) == 999
    assert len(computed) == 2


def test_a_full_cache_starts_again():
    cache = CatalogCache(max_entries=2)
    for key in range(5):
        assert cache.get(key, lambda key=key: key * 10) == key * 10
    assert len(cache._entries) <= 2


def test_a_repeated_quote_reads_the_catalog_once(seeded, tenant_a_api, django_assert_num_queries):
    first = quote(tenant_a_api, projected_usage={"droplet_hours": 900})
    with django_assert_num_queries(1) as captured:  # the generation; the catalog is kept
        again = quote(tenant_a_api, projected_usage={"droplet_hours": 2000})
    assert "catalog_generation" in captured.captured_queries[0]["sql"]
    assert again["plan_version"] == first["plan_version"]
    assert again["overage"]["total_cents"] > first["overage"]["total_cents"]  # priced anew


def test_a_quote_prices_the_catalog_as_it_now_is(seeded, tenant_a_api):
    before = quote(tenant_a_api)
    addon = Addon.objects.get(code="storage_50gb")
    addon_update(addon=addon, price_cents=addon.price_cents + 100)  # the service
    after = quote(tenant_a_api)
    assert after["recurring"]["total_cents"] == before["recurring"]["total_cents"] + 100
    # A fallback price changed behind the services' back (a bulk update): seen at once too.
    volume = {"plan_code": "starter", "addons": [], "projected_usage": {"volume_gb_month": 100}}
    assert quote(tenant_a_api, **volume)["overage"]["total_cents"] == 1500  # 100 x 15c
    ResourcePrice.objects.filter(resource_kind="volume_gb_month").update(price_cents=20)
    assert quote(tenant_a_api, **volume)["overage"]["total_cents"] == 2000
    # A plan with no active version any more is refused at once, not quoted from memory.
    PlanVersion.objects.filter(plan__code="starter").update(
        status="retired", retired_at=timezone.now()
    )
    response = tenant_a_api.post("/api/v1/quote", volume, format="json")
    assert response.status_code == 400 and "plan_code" in response.json()["error"]["fields"]
