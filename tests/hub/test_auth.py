"""Tokens: JWT (HS256, RS256), OAuth check URL, expiry during a connection, REST credentials."""

import asyncio
import time

import httpx
import jwt
import pytest
from backends import SECRET
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hub_server import RunningHub, WsClient, running_hub
from hutch.hub.auth import JwtVerifier, OAuthCheck, mint_token


@pytest.fixture(scope="module")
def secured():
    with running_hub(dev_mode=False, jwt_secret=SECRET, jwt_clock_skew=0) as hub:
        yield hub


async def connect(hub: RunningHub, login: str, passcode: str) -> WsClient:
    client = await WsClient.open(hub, login=None)
    await client.send("CONNECT", {"accept-version": "1.2", "login": login, "passcode": passcode})
    return client


async def test_a_valid_token_connects(secured: RunningHub) -> None:
    client = await connect(secured, "ana", mint_token("ana", SECRET))
    assert (await client.recv()).command == "CONNECTED"
    await client.close()


@pytest.mark.parametrize(
    "token",
    [
        mint_token("ana", SECRET, ttl=-60),
        mint_token("ana", "another-secret-of-at-least-32-bytes"),
        jwt.encode({"sub": "ana"}, SECRET, "HS256"),
        "not-a-token",
    ],
    ids=["expired", "forged", "no exp", "garbage"],
)
async def test_bad_tokens_are_refused(secured: RunningHub, token: str) -> None:
    client = await connect(secured, "ana", token)
    assert (await client.error_then_close()).headers["message"] == "Bad CONNECT"
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{secured.url}/api/conversations", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 401
    assert response.json()["objectType"] == "error" and response.json()["error"] == "InvalidCredentials"


async def test_someone_elses_token_does_not_log_in(secured: RunningHub) -> None:
    client = await connect(secured, "ana", mint_token("bob", SECRET))
    assert (await client.error_then_close()).headers["message"] == "Bad CONNECT"


async def test_a_connection_ends_when_its_token_expires(secured: RunningHub) -> None:
    client = await connect(secured, "ana", mint_token("ana", SECRET, ttl=2))
    assert (await client.recv()).command == "CONNECTED"
    started = time.monotonic()
    error = await client.error_then_close(timeout=10)
    assert error.headers["message"] == "token expired"
    assert time.monotonic() - started < 4


async def test_rest_takes_bearer_and_max_headers(secured: RunningHub) -> None:
    token = mint_token("ana", SECRET)
    async with httpx.AsyncClient() as http:
        bearer = await http.get(f"{secured.url}/api/unread", headers={"Authorization": f"Bearer {token}"})
        oauth = await http.get(
            f"{secured.url}/api/unread", headers={"X-Oauth-Token": token, "X-Oauth-Username": "ana"}
        )
        missing = await http.get(f"{secured.url}/api/unread")
    assert bearer.status_code == oauth.status_code == 200
    assert missing.status_code == 401 and missing.json()["error"] == "Unauthorized"


async def test_rs256() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verifier = JwtVerifier(public.decode(), "RS256")
    token = jwt.encode({"sub": "demo:ana", "exp": time.time() + 60, "roles": ["admin"]}, key, "RS256")
    identity = await verifier.authenticate("ana", token)
    assert identity is not None and (identity.user, identity.domain, identity.is_admin) == (
        "ana",
        "demo",
        True,
    )
    assert (
        await verifier.authenticate(
            "ana", jwt.encode({"sub": "ana", "exp": time.time() + 60}, SECRET, "HS256")
        )
        is None
    )


async def test_oauth_check_url_is_asked_then_cached() -> None:
    asked: list[dict[str, str]] = []

    def check(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        asked.append(form)
        ok = form == {"access_token": "good", "username": "ana"}
        return httpx.Response(200 if ok else 401, json={"roles": ["admin"]} if ok else {})

    verifier = OAuthCheck(
        "http://osiris.test/checktoken",
        ttl=60,
        client=httpx.AsyncClient(transport=httpx.MockTransport(check)),
    )
    identity = await verifier.authenticate("upc:ana", "good")
    assert identity is not None and identity.user == "ana" and identity.is_admin
    assert await verifier.authenticate("upc:ana", "good") == identity
    assert await verifier.authenticate("ana", "bad") is None
    assert len(asked) == 2  # the second good one came from the cache
    await asyncio.sleep(0)
