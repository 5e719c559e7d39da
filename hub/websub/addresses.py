"""Which URLs the hub may reach: http(s) only, and no private, loopback or link-local address
unless `allow_private` (tests run their subscribers on loopback; production must not let a
subscriber turn the hub against its own network)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class Unreachable(Exception):
    """The URL is not one the hub reaches: the words say why."""


async def check_reachable(url: str, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise Unreachable(f"not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise Unreachable("only http and https URLs with a host")
    if allow_private:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise Unreachable(f"{host} does not resolve: {error}") from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global:
            raise Unreachable(f"{host} is a private, loopback or reserved address")
