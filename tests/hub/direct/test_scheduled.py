"""Scheduled sends: kept in the store until their time, claimed by one worker, listed and
cancelled by their author; one whose worker dies holding it is sent once all the same."""

import asyncio
import datetime as dt
import signal
import time
from typing import Any

import pytest
import redis
from backends import AMQP_URL, REDIS_URL, SECRET
from hub_nodes import workers
from hub_server import RunningHub, WsClient, hub_fixture, running_hub
from hutch.hub.direct import service
from hutch.protocol import Frame
from hutch.rules import Form, decode
from security.helpers import Api, fresh, refused, signed_in

hub = hub_fixture(dev_mode=False, jwt_secret=SECRET)


def ahead(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def texts(history: list[dict[str, Any]]) -> list[str]:
    return [message["data"]["text"] for message in history]


async def chat_texts(client: WsClient, wait: float) -> list[str]:
    """The chat messages that arrive within `wait` seconds."""
    found = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame: Frame = await client.recv(left)
        except TimeoutError:
            break
        message = decode(frame.body, Form.PACKED_JSON, "max@1")
        if message.get("action") == "add" and message.get("object") == "message":
            found.append(message["data"]["text"])
    return found


async def test_a_chat_message_scheduled_two_seconds_ahead_arrives_once(hub: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    anas = Api(hub, ana)
    cid = (await anas.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    bobs = await signed_in(hub, bob)
    await bobs.subscribe(f"/exchange/{bob}.subscribe", "stream")
    job = await anas.call(
        "POST",
        f"/api/conversations/{cid}/messages",
        {"text": "in two seconds", "deliver_at": ahead(2)},
        status=202,
    )
    assert job["kind"] == "chat" and job["conversation"] == cid
    assert [found["id"] for found in await anas.call("GET", "/api/scheduled")] == [job["id"]]
    assert await chat_texts(bobs, 1.0) == []  # not yet
    assert await chat_texts(bobs, 3.0) == ["in two seconds"]
    await asyncio.sleep(0.5)
    assert texts(await anas.call("GET", f"/api/conversations/{cid}/messages")) == ["in two seconds"]
    assert await anas.call("GET", "/api/scheduled") == []
    await bobs.close()


async def test_stomp_sends_a_chat_message_later_with_x_hutch_deliver_at(hub: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    cid = (await Api(hub, ana).call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    bobs = await signed_in(hub, bob)
    await bobs.subscribe(f"/exchange/{bob}.subscribe", "stream")
    anas = await signed_in(hub, ana)
    body = b'{"a": "a", "o": "m", "d": {"text": "later"}}'
    packed = {"content-type": "application/x-hutch+json; rules=max@1"}
    destination = f"/exchange/{ana}.publish/{cid}.messages"
    await anas.send(
        "SEND", {"destination": destination, "receipt": "r", "x-hutch-deliver-at": ahead(1.5), **packed}, body
    )
    assert (await anas.recv()).headers["receipt-id"] == "r"
    assert await chat_texts(bobs, 0.8) == []
    assert await chat_texts(bobs, 3.0) == ["later"]

    bad = [
        ({"destination": f"/exchange/{ana}.publish/{cid}.notifications"}, "chat messages"),
        ({"destination": destination, "x-hutch-deliver-at": "soon"}, "RFC 3339"),
    ]
    for headers, says in bad:
        error = await refused(anas, "SEND", {"x-hutch-deliver-at": ahead(5), **headers, **packed}, body)
        assert says in error.body.decode(), error
        anas = await signed_in(hub, ana)
    await anas.close()
    await bobs.close()


async def test_authors_list_and_cancel_their_own_scheduled_sends(hub: RunningHub) -> None:
    ana, bob, boss = fresh("ana", "bob", "boss")
    anas, bobs = Api(hub, ana), Api(hub, bob)
    cid = (await anas.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    job = await anas.call(
        "POST", f"/api/conversations/{cid}/messages", {"text": "never", "deliver_at": ahead(3)}, status=202
    )
    assert await bobs.call("GET", "/api/scheduled") == []
    await bobs.refused("DELETE", f"/api/scheduled/{job['id']}", 404)
    await anas.refused("DELETE", f"/api/scheduled/{'x' * 300}", 404)
    await anas.call("DELETE", f"/api/scheduled/{job['id']}", status=204)
    assert await anas.call("GET", "/api/scheduled") == []
    admin = Api(hub, boss, roles=["admin"])
    send = await admin.call(
        "POST", "/api/send", {"user": bob, "text": "hi", "deliver_at": ahead(60)}, status=202
    )
    [listed] = await admin.call("GET", "/api/scheduled")
    assert listed["id"] == send["id"] and listed["kind"] == "send"
    await admin.call("DELETE", f"/api/scheduled/{send['id']}", status=204)
    await asyncio.sleep(3.5)
    assert await anas.call("GET", f"/api/conversations/{cid}/messages") == []


async def test_only_participants_schedule_and_bad_times_are_refused(hub: RunningHub) -> None:
    ana, bob, eve = fresh("ana", "bob", "eve")
    cid = (await Api(hub, ana).call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    path = f"/api/conversations/{cid}/messages"
    await Api(hub, eve).refused("POST", path, 403, json={"text": "x", "deliver_at": ahead(5)})
    for when in ("tomorrow", "2026-12-07T08:00:00", 12, "x" * 100_000, "0001-01-01T00:00:00+00:01"):
        await Api(hub, ana).refused("POST", path, 400, json={"text": "x", "deliver_at": when})


async def test_an_author_has_a_bounded_number_of_sends_waiting(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_SCHEDULED", 2)
    ana, bob = fresh("ana", "bob")
    anas = Api(hub, ana)
    cid = (await anas.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    path = f"/api/conversations/{cid}/messages"
    for _ in range(2):
        await anas.call("POST", path, {"text": "x", "deliver_at": ahead(600)}, status=202)
    refusal = await anas.refused("POST", path, 409, json={"text": "x", "deliver_at": ahead(600)})
    assert "at most 2" in refusal["error_description"]
    await anas.call("POST", path, {"text": "now"}, status=201)  # sending now is not waiting
    for job in await anas.call("GET", "/api/scheduled"):
        await anas.call("DELETE", f"/api/scheduled/{job['id']}", status=204)


def test_a_message_scheduled_two_seconds_ahead_arrives_once_after_its_worker_is_killed() -> None:
    """A worker claims the due message and is killed (SIGKILL) at once; the next worker takes it
    when the claim's lease ends. However far the first one got, the message is there once."""
    ana, bob = fresh("ana", "bob")
    settings = {"amqp_url": AMQP_URL, "redis_url": REDIS_URL, "worker": False}
    with (
        running_hub(**settings, dev_mode=False, jwt_secret=SECRET) as hub,
        workers(HUTCH_SCHEDULE_LEASE="2") as start,
    ):

        async def schedule() -> tuple[str, str]:
            api = Api(hub, ana)
            cid = (await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
            job = await api.call(
                "POST",
                f"/api/conversations/{cid}/messages",
                {"text": "once", "deliver_at": ahead(2)},
                status=202,
            )
            return cid, job["id"]

        first = start()
        cid, job_id = asyncio.run(schedule())
        due = redis.Redis.from_url(REDIS_URL).zscore("hutch:direct:due", job_id)
        assert due is not None
        claimed = None
        for _ in range(20_000):  # the lease moves its time on: claimed
            claimed = redis.Redis.from_url(REDIS_URL).zscore("hutch:direct:due", job_id)
            if claimed is None or claimed > due:
                break
            time.sleep(0.0005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert claimed is None or claimed > due, "the first worker never claimed it"
        start()

        async def history() -> list[str]:
            api = Api(hub, ana)
            for _ in range(200):
                found = texts(await api.call("GET", f"/api/conversations/{cid}/messages"))
                if found:
                    await asyncio.sleep(3)  # the lease is 2 s: any second copy would be there by now
                    return texts(await api.call("GET", f"/api/conversations/{cid}/messages"))
                await asyncio.sleep(0.1)
            return []

        assert asyncio.run(history()) == ["once"]
