from tests.catalog.conftest import seeded  # noqa: F401  (the SPEC §8 catalog)
