"""Clients of external services, each with what fakes it in tests and the demo beside it."""
