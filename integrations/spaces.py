"""DigitalOcean Spaces through its S3-compatible API (boto3): how big a bucket is.

A bucket's size is the sum of its objects' sizes, read with `list_objects_v2` page by page
(1,000 keys a page). A large bucket is bounded in time: past `max_seconds` the listing stops and
the result says it is partial, so one huge bucket never holds up the others and a partial sum
(a lower bound) is never taken for the size.

Keys come from settings (`SPACES_ACCESS_KEY_ID`, `SPACES_SECRET_ACCESS_KEY`); the endpoint is per
region, `SPACES_ENDPOINT_URL` with `{region}` filled in (default
`https://{region}.digitaloceanspaces.com`; tests and the demo point it at a local S3 server).
Neither key ever appears in a log line or an error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

DEFAULT_ENDPOINT_URL = "https://{region}.digitaloceanspaces.com"
DEFAULT_REGION = "nyc3"
DEFAULT_MAX_SECONDS = 120
PAGE_SIZE = 1000


class SpacesError(Exception):
    """The S3 API failed for one bucket (refused, missing, unreachable)."""


@dataclass(frozen=True)
class BucketSize:
    size_bytes: int
    objects: int
    pages: int
    complete: bool  # False: stopped at the time bound; size_bytes is a lower bound


class SpacesClient:
    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        endpoint_url: str = DEFAULT_ENDPOINT_URL,
        max_seconds: int = DEFAULT_MAX_SECONDS,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not access_key_id or not secret_access_key:
            raise ValueError("Spaces access key id and secret are required")
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self.endpoint_url = endpoint_url
        self.max_seconds = max_seconds
        self.page_size = page_size
        self._clock = clock
        self._clients: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<SpacesClient {self.endpoint_url}>"

    def endpoint_for(self, region: str) -> str:
        return self.endpoint_url.replace("{region}", region)

    def _s3(self, region: str) -> Any:
        if region not in self._clients:
            self._clients[region] = boto3.session.Session().client(
                "s3",
                region_name=region,
                endpoint_url=self.endpoint_for(region),
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key,
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
        return self._clients[region]

    def bucket_size(self, bucket: str, *, region: str) -> BucketSize:
        """The bucket's total object size in bytes, complete, or partial past max_seconds."""
        deadline = self._clock() + self.max_seconds
        size = objects = pages = 0
        try:
            paginator = self._s3(region).get_paginator("list_objects_v2")
            for page in paginator.paginate(
                Bucket=bucket, PaginationConfig={"PageSize": self.page_size}
            ):
                pages += 1
                for item in page.get("Contents", ()):
                    size += int(item.get("Size", 0))
                    objects += 1
                if page.get("IsTruncated") and self._clock() >= deadline:
                    return BucketSize(size, objects, pages, complete=False)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise SpacesError(
                f"Spaces list_objects_v2 {bucket} ({region}) refused: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}"[:300]
            ) from None
        except BotoCoreError as exc:
            raise SpacesError(
                f"Spaces list_objects_v2 {bucket} ({region}) failed: {type(exc).__name__}"
            ) from None
        return BucketSize(size, objects, pages, complete=True)


def spaces_client() -> SpacesClient | None:
    """The client from settings, or None when no keys are configured (callers log one line)."""
    key_id = str(getattr(settings, "SPACES_ACCESS_KEY_ID", "") or "").strip()
    secret = str(getattr(settings, "SPACES_SECRET_ACCESS_KEY", "") or "").strip()
    if not key_id or not secret:
        return None
    return SpacesClient(
        access_key_id=key_id,
        secret_access_key=secret,
        endpoint_url=str(getattr(settings, "SPACES_ENDPOINT_URL", "") or DEFAULT_ENDPOINT_URL),
        max_seconds=int(getattr(settings, "SPACES_MEASURE_MAX_SECONDS", DEFAULT_MAX_SECONDS)),
    )
