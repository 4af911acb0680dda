"""A rate budget per DigitalOcean token, shared by every sync and ingest using that token.

DigitalOcean allows 250 requests a minute and 5,000 an hour per token (OpenAPI `ratelimit-*`
headers). Every request the client sends first takes one slot from both sliding windows:

- a free slot: the request goes now;
- the minute is full: the client waits for the oldest request to leave it (at most
  `max_wait` seconds), so a burst is spread rather than answered with 429s;
- the hour is full, or DigitalOcean said so (`ratelimit-remaining: 0`, a 429 with
  `retry-after` / `ratelimit-reset`): `DOBudgetExhausted`, and the caller defers the rest of its
  work to its next run (a sync returns `skipped`, nothing is struck).

The windows live in Redis when a Redis broker is configured (every worker process shares
them), in process memory otherwise. Keys are a hash of the token, never the token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .errors import DORateLimited

PER_MINUTE = 250
PER_HOUR = 5000
MINUTE, HOUR = 60.0, 3600.0
DEFAULT_MAX_WAIT_SECONDS = 60.0


class DOBudgetExhausted(DORateLimited):
    """The token's budget has no slot for `wait` seconds: defer the work, do not fail it."""

    def __init__(self, message: str, *, wait: float):
        super().__init__(message, status=429)
        self.wait = wait


class BudgetStore(Protocol):
    def take(self, key: str, now: float, limits: tuple[int, int]) -> float:
        """Take one slot of (per minute, per hour) at `now`: 0.0 when taken, else the seconds
        until one frees (nothing taken)."""

    def block(self, key: str, until: float) -> None:
        """No slot before `until` (what DigitalOcean itself said)."""


class MemoryStore:
    """Sliding windows in this process (the quick start, tests, a single worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, tuple[deque[float], deque[float]]] = {}
        self._blocked: dict[str, float] = {}

    def take(self, key: str, now: float, limits: tuple[int, int]) -> float:
        with self._lock:
            blocked = self._blocked.get(key, 0.0)
            if blocked > now:
                return blocked - now
            minute, hour = self._sent.setdefault(key, (deque(), deque()))
            for window, span in ((minute, MINUTE), (hour, HOUR)):
                while window and window[0] <= now - span:
                    window.popleft()
            waits = [
                window[0] + span - now
                for window, span, limit in ((minute, MINUTE, limits[0]), (hour, HOUR, limits[1]))
                if len(window) >= limit
            ]
            if waits:
                return max(max(waits), 0.001)
            minute.append(now)
            hour.append(now)
            return 0.0

    def block(self, key: str, until: float) -> None:
        with self._lock:
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


# One atomic step in Redis: drop expired entries, refuse (with the wait) or record the request.
_TAKE_SCRIPT = """
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return tostring(blocked - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600)
local wait = 0
local spans = {60, 3600}
for i = 1, 2 do
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 1]) then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + spans[i] - now, 0.001)
  end
end
if wait > 0 then return tostring(wait) end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], 120)
redis.call('EXPIRE', KEYS[2], 3700)
return '0'
"""


class RedisStore:
    """Sliding windows in Redis, shared by every process using the token."""

    def __init__(self, redis_client: Any) -> None:
        self._redis = redis_client
        self._take = redis_client.register_script(_TAKE_SCRIPT)
        self._counter = 0
        self._lock = threading.Lock()

    def take(self, key: str, now: float, limits: tuple[int, int]) -> float:
        with self._lock:
            self._counter += 1
            member = f"{now:.6f}:{id(self)}:{self._counter}"
        keys = [f"{key}:minute", f"{key}:hour", f"{key}:blocked"]
        return float(self._take(keys=keys, args=[now, limits[0], limits[1], member]))

    def block(self, key: str, until: float) -> None:
        current = float(self._redis.get(f"{key}:blocked") or 0)
        if until > current:
            self._redis.set(f"{key}:blocked", until, ex=max(1, int(until - time.time()) + 1))


class RateBudget:
    """The budget of one token: `spend()` before each request, `observe()` after it."""

    def __init__(
        self,
        token: str,
        *,
        store: BudgetStore,
        per_minute: int = PER_MINUTE,
        per_hour: int = PER_HOUR,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_minute < 1 or per_hour < 1:
            raise ValueError("rate limits must be positive")
        self.key = "do-rate:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        self.limits = (per_minute, per_hour)
        self.max_wait = max_wait
        self._store = store
        self._clock = clock

    def spend(self, sleep: Callable[[float], None]) -> None:
        """Take a slot, waiting for one when it frees within `max_wait`; else raise."""
        waited = 0.0
        while True:
            wait = self._store.take(self.key, self._clock(), self.limits)
            if wait <= 0:
                return
            if waited + wait > self.max_wait:
                raise DOBudgetExhausted(
                    f"DigitalOcean rate budget of this token spent ({self.limits[0]}/min, "
                    f"{self.limits[1]}/h): next slot in {wait:.0f}s; deferred",
                    wait=wait,
                )
            sleep(wait)
            waited += wait

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """What DigitalOcean said about the budget: nothing left until `ratelimit-reset`, or
        a 429's `retry-after`."""
        now = self._clock()
        remaining = _number(headers.get("ratelimit-remaining"))
        reset = _number(headers.get("ratelimit-reset"))
        retry_after = _number(headers.get("retry-after"))
        if status == 429 and retry_after is not None:
            self._store.block(self.key, now + retry_after)
        elif remaining is not None and remaining <= 0:
            self._store.block(self.key, reset if reset is not None and reset > now else now + 60)


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


_memory_store = MemoryStore()
_redis_stores: dict[str, RedisStore] = {}
_stores_lock = threading.Lock()


def store_for(broker_url: str) -> BudgetStore:
    """Redis when the broker is Redis (shared by every worker), else this process's memory."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return _memory_store
    with _stores_lock:
        store = _redis_stores.get(broker_url)
        if store is None:
            import redis

            store = RedisStore(redis.Redis.from_url(broker_url))
            _redis_stores[broker_url] = store
        return store
