"""A real S3-compatible server on loopback for the tests and the demo: moto's server mode
(`moto[server]`, a test and demo extra, imported only here), not an emulator of our own.

`run_s3_server()` starts it on a free 127.0.0.1 port and yields its endpoint URL (give it to
`SpacesClient(endpoint_url=...)` or SPACES_ENDPOINT_URL: one endpoint serves every region);
`create_bucket` fills a bucket with objects of the given sizes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import boto3

SANDBOX_KEY_ID = "sandbox-spaces-key"
SANDBOX_SECRET = "sandbox-spaces-secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def run_s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_admin(endpoint_url: str) -> Any:
    """A plain boto3 S3 client of the sandbox server, to set buckets up."""
    return boto3.session.Session().client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )


def create_bucket(endpoint_url: str, name: str, object_sizes: Iterable[int]) -> int:
    """Create bucket `name` holding one object per size (bytes); returns the total bytes."""
    s3 = s3_admin(endpoint_url)
    s3.create_bucket(Bucket=name)
    total = 0
    for index, size in enumerate(object_sizes):
        s3.put_object(Bucket=name, Key=f"object-{index:05d}", Body=b"\0" * size)
        total += size
    return total
