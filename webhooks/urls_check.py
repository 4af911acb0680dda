"""Which receiver URLs a webhook may have (SSRF): http(s) with a host; https only in production;
no loopback, private, link-local or otherwise non-public address unless WEBHOOKS_ALLOW_PRIVATE
(development, the demo's local receiver). Checked when an endpoint is saved (a literal address or
`localhost`) and again before every delivery, on the addresses the host resolves to then (a
name that later points inside is refused at delivery, not just at registration)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from arcadia_cloud.errors import field_error

MAX_URL_LENGTH = 2000
LOCAL_NAMES = ("localhost", "localhost.localdomain")


def clean_webhook_url(value: object) -> str:
    """The URL as given, or a 400 naming `url`."""
    if not isinstance(value, str) or not value.strip():
        raise field_error("url", "a webhook needs the https URL of its receiver")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise field_error("url", f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise field_error("url", f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise field_error("url", f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise field_error("url", "must not carry a user name or password")
    if settings.IS_PRODUCTION and parts.scheme != "https":
        raise field_error("url", "must be https (receivers are only called over TLS)")
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        if host.lower().rstrip(".") in LOCAL_NAMES or host.lower().endswith(".localhost"):
            raise field_error("url", f"{host} is this machine; a receiver must be public")
        address = _literal_address(host)
        if address is not None and not address.is_global:
            raise field_error("url", f"{host} is a private or reserved address, not public")
    return url


def refusal_before_delivery(url: str) -> str | None:
    """Why this URL must not be called now (None: go ahead). Resolves the host and refuses any
    address that is not public, unless private addresses are allowed."""
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"{host} resolves to {address}, which is not a public address"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
