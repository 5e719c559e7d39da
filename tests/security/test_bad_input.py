"""Every bad input is a 4xx or an ERROR saying what is wrong, never a 500, never stored."""

import httpx
import jwt
import pytest
from hub_server import RunningHub, WsClient, join
from security.helpers import SECRET, Api, fresh, inbox, refused

CONNECT = {"accept-version": "1.2", "host": "127.0.0.1", "login": "mallory", "passcode": "x"}


@pytest.mark.parametrize("beat", ["²,0", "0,\u0661", "1_0,0", "99999999999,0", "-1,0", "1,2,3"])
async def test_a_bad_heart_beat_is_an_error_before_any_login(guarded: RunningHub, beat: str) -> None:
    client = await WsClient.open(guarded, login=None)
    await client.send("CONNECT", {**CONNECT, "heart-beat": beat})
    error = await client.error_then_close()
    assert error.headers["message"] == "bad heart-beat"


@pytest.mark.parametrize("prefetch", ["²", "65536", "99999999999999999999", "1_0", "-1", " 1"])
async def test_a_bad_prefetch_count_is_an_error(guarded: RunningHub, prefetch: str) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(guarded, me)
    error = await refused(
        client, "SUBSCRIBE", {"id": "1", "destination": f"/queue/{me}:q", "prefetch-count": prefetch}
    )
    assert error.headers["message"] == "bad prefetch-count"


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "add", "object": "message", "data": {"n": NaN}}',
        b'{"action": "add", "object": "message", "data": {"n": Infinity}}',
        b'{"action": "add", "object": "message", "data": {"n": 1e999}}',
        b'{"action": "add", "object": "message", "data": ' + b"[" * 100 + b"]" * 100 + b"}",
    ],
)
async def test_a_message_that_could_not_be_read_back_is_refused_over_stomp(
    guarded: RunningHub, body: bytes
) -> None:
    mallory, bob = fresh("mallory", "bob")
    cid = fresh("c")[0]
    join(guarded, cid, mallory, bob)
    client = await WsClient.open(guarded, mallory)
    error = await refused(
        client,
        "SEND",
        {
            "destination": f"/exchange/{mallory}.publish/{cid}.messages",
            "content-type": "application/json; rules=max@1",
        },
        body,
    )
    assert error.headers["message"] == "bad message"
    history = await Api(guarded, bob).call("GET", f"/api/conversations/{cid}/messages")
    assert history == []


async def test_a_huge_integer_is_stored_as_a_number_that_reads_back(guarded: RunningHub) -> None:
    """JSON integers past 64 bits become floats when parsed (msgpack has no wider integers)."""
    mallory, bob = fresh("mallory", "bob")
    api = Api(guarded, mallory)
    cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    client = await inbox(guarded, mallory)
    body = b'{"action": "add", "object": "message", "data": {"n": 123456789012345678901234567890}}'
    await client.publish(
        f"/exchange/{mallory}.publish/{cid}.messages",
        body,
        **{"content-type": "application/json; rules=max@1"},
    )
    await api.call(
        "POST", f"/api/conversations/{cid}/messages", None, status=201,
        content=b'{"data": {"n": 123456789012345678901234567890}}',
    )  # fmt: skip
    for _ in range(100):
        history = await api.call("GET", f"/api/conversations/{cid}/messages")
        if len(history) == 2:
            break
    assert [m["data"]["n"] for m in history] == [1.2345678901234568e29] * 2
    await api.call("GET", "/api/conversations")
    await client.close()


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"n": NaN}}',
        b'{"data": {"n": Infinity}}',
        b'{"text": 1e999}',
        b'{"text": 1}',
        b'{"data": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}",
        b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"[1, 2]",
        b"not json",
        b'{"data": "\xff"}',
    ],
)
async def test_a_rest_message_that_could_not_be_read_back_is_refused(
    guarded: RunningHub, body: bytes
) -> None:
    mallory, bob = fresh("mallory", "bob")
    api = Api(guarded, mallory)
    cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    await api.refused(
        "POST",
        f"/api/conversations/{cid}/messages",
        400,
        content=body,
        headers={"content-type": "application/json"},
    )
    assert await api.call("GET", f"/api/conversations/{cid}/messages") == []
    assert (await api.call("GET", "/api/conversations"))[0]["lastMessage"] is None


@pytest.mark.parametrize(
    "cursor",
    ["1_0", "\u0661-0", "18446744073709551616-0", "1-18446744073709551616", "abc", "1-2-3", "-1", " 1"],
)
async def test_cursors_redis_would_refuse_are_400(guarded: RunningHub, cursor: str) -> None:
    mallory, bob = fresh("mallory", "bob")
    api = Api(guarded, mallory)
    cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    for query in ("before", "after"):
        await api.refused("GET", f"/api/conversations/{cid}/messages", 400, params={query: cursor})
    await api.refused("POST", f"/api/conversations/{cid}/read", 400, json={"id": cursor})
    await api.call("GET", "/api/conversations")  # still answers
    await api.call("GET", "/api/unread")
    client = await WsClient.open(guarded, mallory)
    error = await refused(
        client, "SUBSCRIBE", {"id": "1", "destination": f"/exchange/{mallory}.subscribe", "x-since": cursor}
    )
    assert error.headers["message"] == "bad x-since"


@pytest.mark.parametrize("cursor", ["0-0", "0", "18446744073709551615-18446744073709551615"])
async def test_cursors_at_the_ends_answer_empty(guarded: RunningHub, cursor: str) -> None:
    mallory, bob = fresh("mallory", "bob")
    api = Api(guarded, mallory)
    cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    await api.call("POST", f"/api/conversations/{cid}/messages", {"text": "hi"}, status=201)
    for query in ("before", "after"):
        await api.call("GET", f"/api/conversations/{cid}/messages", params={query: cursor})
    await api.call("POST", f"/api/conversations/{cid}/read", {"id": cursor}, status=204)
    await api.call("GET", "/api/conversations")
    await api.call("GET", "/api/unread")


@pytest.mark.parametrize(
    "name", ["", "#", "*", "x/y", "a b", "nul\x00", "new\nline", "x" * 10_000, "amq.gen", "hutch.node", "a|b"]
)
async def test_names_outside_the_rule_are_400_everywhere(guarded: RunningHub, name: str) -> None:
    (mallory,) = fresh("mallory")
    api = Api(guarded, mallory)
    await api.refused("POST", "/api/conversations", 400, json={"participants": [name]})
    await api.refused("GET", "/api/presence", 400, params={"users": name or ","})
    created = await api.call("POST", "/api/conversations", {"participants": fresh("b", "c")}, status=201)
    await api.refused(
        "POST", f"/api/conversations/{created['id']}/participants", 400, json={"username": name}
    )
    await api.refused("POST", f"/api/conversations/{created['id']}/owner", 400, json={"username": name})
    assert len((await api.call("GET", f"/api/conversations/{created['id']}"))["participants"]) == 3


@pytest.mark.parametrize("name", ["josé", "日本語", "Ünïcödé.name", "a-b_c.d"])
async def test_names_of_any_script_work_on_both_backends(guarded: RunningHub, name: str) -> None:
    (ana,) = fresh("ana")
    user = name + fresh("")[0]
    api = Api(guarded, ana)
    cid = (await api.call("POST", "/api/conversations", {"participants": [user, "x" + user]}, status=201))[
        "id"
    ]
    listener = await inbox(guarded, user)
    await api.call("POST", f"/api/conversations/{cid}/messages", {"text": "olá"}, status=201)
    frame = await listener.recv()
    assert "olá" in frame.body.decode()
    await api.call("DELETE", f"/api/conversations/{cid}/participants/{user}", status=204)
    await listener.close()


async def test_a_token_with_odd_claims_is_not_a_500(guarded: RunningHub) -> None:
    import time

    (user,) = fresh("mallory")
    for claims in (
        {"roles": [["admin"]]},
        {"roles": [{"admin": True}, "admin-not"]},
        {"roles": "admin"},
        {"domain": ["x"]},
    ):
        token = jwt.encode({"sub": user, "exp": time.time() + 60, **claims}, SECRET, "HS256")
        async with httpx.AsyncClient(base_url=guarded.url) as http:
            response = await http.get("/api/conversations", headers={"authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            response = await http.post(
                "/api/broadcast", json={"text": "x"}, headers={"authorization": f"Bearer {token}"}
            )
            assert response.status_code == 403
    token = jwt.encode({"sub": "bad/name", "exp": time.time() + 60}, SECRET, "HS256")
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        response = await http.get("/api/conversations", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_webpush_endpoints_that_do_not_parse_are_400(guarded: RunningHub) -> None:
    api = Api(guarded, fresh("mallory")[0])
    keys = {"p256dh": "k", "auth": "a"}
    for endpoint in ("http://[", "https://", "ftp://x", "x" * 5000, 12):
        await api.refused(
            "POST",
            "/api/devices",
            400,
            json={"platform": "webpush", "subscription": {"endpoint": endpoint, "keys": keys}},
        )


async def test_http_errors_outside_the_api_are_json_and_405_names_every_method(guarded: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        for path in ("/nope", "/widget/__init__.py", "/widget/package.json", "/widget/../pyproject.toml"):
            response = await http.get(path)
            assert response.status_code == 404
            assert response.json()["objectType"] == "error"
        assert (await http.get("/widget/hutch-widget.js")).status_code == 200
        response = await http.put("/api/conversations")
        assert response.status_code == 405
        assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
        assert response.json()["error"] == "MethodNotAllowed"
        response = await http.put("/api/conversations/abc")
        assert set(response.headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}
        for path in ("/info", "/health"):  # the node's id names its queues: said to no one
            assert guarded.node.settings.node_id not in (await http.get(path)).text


async def test_a_rest_body_past_the_limit_is_413(guarded: RunningHub) -> None:
    api = Api(guarded, fresh("mallory")[0])
    big = b'{"participants": ["' + b"x" * (2 * 1024 * 1024) + b'"]}'
    body = await api.refused("POST", "/api/conversations", 413, content=big)
    assert body["error"] == "PayloadTooLarge"

    async def chunks():  # no content-length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536

    await api.refused("POST", "/api/conversations", 413, content=chunks())


@pytest.mark.parametrize(
    "headers",
    [
        {"priority": "99999"},
        {"priority": "\u00b2"},
        {"expiration": "\u00b2"},
        {"expiration": "99999999999999999999999"},
        {"content-type": "x" * 300},
        {"correlation-id": "x" * 300},
        {"type": "\u00e9" * 200},
        {"x" * 300: "long name"},
    ],
    ids=["priority-range", "priority-digit", "expiration-digit", "expiration-range", "content-type",
         "correlation-id", "type-bytes", "header-name"],
)  # fmt: skip
async def test_headers_amqp_cannot_carry_are_refused_alike(
    guarded: RunningHub, headers: dict[str, str]
) -> None:
    (me,) = fresh("mallory")
    client = await WsClient.open(guarded, me)
    error = await refused(client, "SEND", {"destination": f"/topic/{me}:x", **headers}, b"x")
    assert error.headers["message"] == "bad header"
    neighbour = await WsClient.open(guarded, me)  # the node's publishing goes on
    await neighbour.subscribe(f"/topic/{me}:y")
    await neighbour.publish(f"/topic/{me}:y", b"still", priority="9", expiration="60000")
    assert (await neighbour.recv()).body == b"still"
    await neighbour.close()
