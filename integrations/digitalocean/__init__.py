"""DigitalOcean API access: one client, typed errors, one token per purpose."""

from .client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CSV_BYTES,
    PER_PAGE,
    DigitalOceanClient,
    client_for,
    rate_budget_for,
)
from .errors import (
    DigitalOceanError,
    DOAuthError,
    DOBadPayload,
    DOClientError,
    DONotFound,
    DORateLimited,
    DOResponseTooLarge,
    DOServerError,
)
from .ratelimit import DOBudgetExhausted, RateBudget

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CSV_BYTES",
    "PER_PAGE",
    "DOAuthError",
    "DOBadPayload",
    "DOBudgetExhausted",
    "DOClientError",
    "DONotFound",
    "DORateLimited",
    "DOResponseTooLarge",
    "DOServerError",
    "DigitalOceanClient",
    "DigitalOceanError",
    "RateBudget",
    "client_for",
    "rate_budget_for",
]
