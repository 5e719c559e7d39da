"""Who a connection is: credentials in, an `Identity` out, or None to refuse.

Verifiers sit behind the `Authenticator` protocol and are tried in order:
JWT (HS256 with a shared secret, RS256 with a public key; `exp` enforced with a
clock-skew allowance), an OAuth token-check URL (MAX/osiris style: POST the
token and username, answers cached for a while), and a static tokens file for
bots. Dev mode, which accepts anyone, exists only when asked for.

STOMP passes `login` (user or `domain:user`) and `passcode` (the token); REST
passes `Authorization: Bearer <token>` or the MAX headers `X-Oauth-Token` and
`X-Oauth-Username`.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

log = logging.getLogger(__name__)

ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    domain: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    expires_at: float | None = None  # wall-clock seconds; the session ends then

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


class Authenticator(Protocol):
    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None: ...


def split_login(login: str) -> tuple[str | None, str]:
    """`domain:user` or `user`."""
    domain, colon, user = login.rpartition(":")
    return (domain or None, user) if colon else (None, login)


DEV_TOKEN = "dev:"  # a dev-mode token names its user: `dev:<user>` (POST /dev/token)


class DevAuthenticator:
    """Accepts anyone as the login they give: for development only. A request with a token
    and no login (REST's `Authorization: Bearer`) is the user a dev token names."""

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        if login is None and passcode is not None and passcode.startswith(DEV_TOKEN):
            login = passcode.removeprefix(DEV_TOKEN)
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


class JwtVerifier:
    """A JWT in the passcode: `sub` is the user, `roles` its roles, `exp` its end."""

    def __init__(self, key: str, algorithm: str, clock_skew: float = 30.0):
        self.key = key
        self.algorithm = algorithm
        self.clock_skew = clock_skew

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        if not passcode or passcode.count(".") != 2:
            return None
        try:
            claims = jwt.decode(
                passcode,
                self.key,
                algorithms=[self.algorithm],
                leeway=self.clock_skew,
                options={"require": ["sub", "exp"]},
            )
        except jwt.InvalidTokenError as error:
            log.info("refused a JWT: %s", error)
            return None
        domain, user = split_login(str(claims["sub"]))
        if login and split_login(login)[1] != user:
            return None  # a token of someone else
        return Identity(
            user,
            domain or _text(claims.get("domain")),
            _roles_of(claims.get("roles")),
            float(claims["exp"]) + self.clock_skew,
        )


def _roles_of(claim: object) -> frozenset[str]:
    """The roles of a claim or a check answer: its strings, whatever else a forged one holds."""
    return (
        frozenset(role for role in claim if isinstance(role, str)) if isinstance(claim, list) else frozenset()
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def mint_token(user: str, secret: str, *, ttl: float = 3600.0, roles: list[str] | None = None) -> str:
    """An HS256 token for `user` (`hutch token USER`)."""
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + int(ttl), "roles": roles or []}, secret, "HS256")


CACHE_LIMIT = 10_000  # token checks remembered at once


class OAuthCheck:
    """POST token and username to a check URL (MAX/osiris); a 200 means valid. Cached for `ttl`."""

    def __init__(self, url: str, ttl: float = 60.0, client: httpx.AsyncClient | None = None):
        self.url = url
        self.ttl = ttl
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._cache: dict[tuple[str, str], tuple[float, Identity | None]] = {}

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        if not login or not passcode:
            return None
        domain, user = split_login(login)
        cached = self._cache.get((user, passcode))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self._client.post(self.url, data={"access_token": passcode, "username": user})
        except httpx.HTTPError as error:
            log.warning("the OAuth check at %s failed: %s", self.url, error)
            return None  # not cached: the next attempt asks again
        identity = Identity(user, domain, _roles(response)) if response.status_code == 200 else None
        if len(self._cache) >= CACHE_LIMIT:  # guessed tokens must not grow it without end
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
        self._cache[(user, passcode)] = (time.monotonic() + self.ttl, identity)
        return identity


def _roles(response: httpx.Response) -> frozenset[str]:
    try:
        body: Any = response.json()
    except ValueError:
        return frozenset()
    return _roles_of(body.get("roles") if isinstance(body, dict) else None)


class FirstOf:
    """Tries verifiers in order; the first that knows the credentials wins."""

    def __init__(self, *verifiers: Authenticator):
        self.verifiers = verifiers

    async def authenticate(self, login: str | None, passcode: str | None) -> Identity | None:
        for verifier in self.verifiers:
            if (identity := await verifier.authenticate(login, passcode)) is not None:
                return identity
        return None


class AuthSettings(Protocol):
    dev_mode: bool
    tokens_file: Path | None
    jwt_secret: str | None
    jwt_public_key_file: Path | None
    jwt_clock_skew: float
    oauth_check_url: str | None
    oauth_cache_ttl: float


def authenticator_for(settings: AuthSettings) -> Authenticator:
    verifiers: list[Authenticator] = []
    if settings.jwt_secret:
        verifiers.append(JwtVerifier(settings.jwt_secret, "HS256", settings.jwt_clock_skew))
    if settings.jwt_public_key_file:
        verifiers.append(
            JwtVerifier(settings.jwt_public_key_file.read_text(), "RS256", settings.jwt_clock_skew)
        )
    if settings.tokens_file is not None:
        verifiers.append(StaticTokens.load(settings.tokens_file))
    if settings.oauth_check_url:
        verifiers.append(OAuthCheck(settings.oauth_check_url, settings.oauth_cache_ttl))
    if settings.dev_mode:
        log.warning(
            "DEV MODE: any login is accepted without a password. "
            "Never run a hub that others can reach with --dev-mode (HUTCH_DEV_MODE=1)."
        )
        verifiers.append(DevAuthenticator())
    elif not verifiers:
        log.warning("no verifier is configured (JWT, OAuth, tokens file): every login will be refused")
    return FirstOf(*verifiers)
