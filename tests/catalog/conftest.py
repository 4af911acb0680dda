import pytest

from catalog.seed import catalog_seed


@pytest.fixture
def seeded(db):
    """The SPEC §8 launch catalog."""
    return catalog_seed()
