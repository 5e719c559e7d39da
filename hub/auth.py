"""Who a connection is: credentials in, an `Identity` out, or None to refuse.

The login may be `domain:user`, as MAX clients send it. Verifiers sit behind
the `Authenticator` protocol; `authenticator_for(settings)` picks them.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    domain: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)


class Authenticator(Protocol):
    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None: ...


def split_login(login: str) -> tuple[str | None, str]:
    """`domain:user` or `user`."""
    domain, colon, user = login.rpartition(":")
    return (domain or None, user) if colon else (None, login)


class DevAuthenticator:
    """Accepts anyone as the login they give: for development only."""

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        domain, user = split_login(login or "guest")
        return Identity(user or "guest", domain)


class StaticTokens:
    """A file of `user token [role,role]` lines; blank lines and `#` comments are skipped."""

    def __init__(self, entries: dict[str, tuple[str, frozenset[str]]]):
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> StaticTokens:
        entries: dict[str, tuple[str, frozenset[str]]] = {}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) not in (2, 3):
                raise ValueError(f"{path}:{number}: expected 'user token [role,...]'")
            roles = frozenset(fields[2].split(",")) if len(fields) == 3 else frozenset()
            entries[fields[0]] = (fields[1], roles)
        return cls(entries)

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        if not login or passcode is None:
            return None
        domain, user = split_login(login)
        entry = self._entries.get(user)
        if entry is None or not hmac.compare_digest(entry[0].encode(), passcode.encode()):
            return None
        return Identity(user, domain, entry[1])


class FirstOf:
    """Tries verifiers in order; the first that knows the credentials wins."""

    def __init__(self, *verifiers: Authenticator):
        self.verifiers = verifiers

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        for verifier in self.verifiers:
            if (identity := await verifier.authenticate(login, passcode)) is not None:
                return identity
        return None


def authenticator_for(dev_mode: bool, tokens_file: Path | None) -> Authenticator:
    verifiers: list[Authenticator] = []
    if tokens_file is not None:
        verifiers.append(StaticTokens.load(tokens_file))
    if dev_mode:
        log.warning(
            "DEV MODE: any login is accepted without a password. "
            "Set HUTCH_DEV_MODE=0 (or pass --no-dev-mode) before exposing this hub."
        )
        verifiers.append(DevAuthenticator())
    elif not verifiers:
        log.warning("dev mode is off and no verifier is configured: every CONNECT will be refused")
    return FirstOf(*verifiers)
