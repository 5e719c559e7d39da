"""A removed member receives nothing more, on every path a subscription can take."""

import asyncio

from hub_server import RunningHub, WsClient
from security.helpers import Api, chat, fresh, inbox, silent


async def group(hub: RunningHub) -> tuple[Api, str, str, str]:
    owner, bob, carol = fresh("owner", "bob", "carol")
    api = Api(hub, owner)
    created = await api.call("POST", "/api/conversations", {"participants": [bob, carol]}, status=201)
    return api, created["id"], bob, carol


async def say(api: Api, cid: str, text: str) -> None:
    await api.call("POST", f"/api/conversations/{cid}/messages", {"text": text}, status=201)


async def test_a_removed_member_stops_receiving_on_every_path(guarded: RunningHub) -> None:
    api, cid, bob, carol = await group(guarded)
    stream = await inbox(guarded, carol)
    direct = await WsClient.open(guarded, carol)
    await direct.subscribe(f"/exchange/conversations/{cid}.*", "direct")
    durable = await WsClient.open(guarded, carol)
    await durable.subscribe(
        f"/exchange/{carol}.subscribe", "kept", durable="true", **{"auto-delete": "false"}
    )
    witness = await inbox(guarded, bob)

    await say(api, cid, "before")
    for client in (stream, direct, durable, witness):
        assert b"before" in (await chat(client)).body

    await api.call("DELETE", f"/api/conversations/{cid}/participants/{carol}", status=204)
    await asyncio.sleep(0.2)
    await say(api, cid, "after")
    assert b"after" in (await chat(witness)).body
    for client in (stream, direct, durable):
        assert await silent(client)

    # The durable subscription's queue took nothing while she was away either.
    await durable.close()
    await say(api, cid, "while away")
    assert b"while away" in (await chat(witness)).body
    again = await WsClient.open(guarded, carol)
    await again.subscribe(f"/exchange/{carol}.subscribe", "kept", durable="true", **{"auto-delete": "false"})
    assert await silent(again)
    await again.send("UNSUBSCRIBE", {"id": "kept", "durable": "true", "receipt": "gone"})
    await again.receipt("gone")
    for client in (stream, direct, witness, again):
        await client.close()


async def test_a_removed_member_cannot_subscribe_again(guarded: RunningHub) -> None:
    api, cid, _bob, carol = await group(guarded)
    await api.call("DELETE", f"/api/conversations/{cid}/participants/{carol}", status=204)
    client = await WsClient.open(guarded, carol)
    await client.send(
        "SUBSCRIBE", {"id": "1", "destination": f"/exchange/conversations/{cid}.*", "receipt": "r"}
    )
    error = await client.error_then_close()
    assert error.headers["message"] == "access refused"


async def test_a_durable_subscription_to_conversations_is_refused(guarded: RunningHub) -> None:
    """Its queue would be bound beside the membership; the durable path is one's own stream."""
    _api, cid, bob, _carol = await group(guarded)
    client = await WsClient.open(guarded, bob)
    await client.send(
        "SUBSCRIBE",
        {"id": "1", "destination": f"/exchange/conversations/{cid}.*", "durable": "true", "receipt": "r"},
    )
    error = await client.error_then_close()
    assert error.headers["message"] == "access refused"
    assert b".subscribe" in error.body


async def test_a_removal_on_one_node_ends_subscriptions_on_another() -> None:
    """Two nodes on RabbitMQ and Redis: the member is removed through one, listens on the other."""
    from backends import REDIS_URL, rabbitmq_vhost
    from hub_server import running_hub
    from security.helpers import SECRET

    with rabbitmq_vhost() as url:
        settings = {"amqp_url": url, "redis_url": REDIS_URL, "jwt_secret": SECRET, "permissions_file": None}
        with running_hub(**settings, worker=True) as first, running_hub(**settings) as second:
            api, cid, bob, carol = await group(first)
            stream = await inbox(second, carol)
            direct = await WsClient.open(second, carol)
            await direct.subscribe(f"/exchange/conversations/{cid}.*", "direct")
            witness = await inbox(second, bob)
            await say(api, cid, "before")
            for client in (stream, direct, witness):
                assert b"before" in (await chat(client)).body
            await api.call("DELETE", f"/api/conversations/{cid}/participants/{carol}", status=204)
            await asyncio.sleep(0.5)  # the control event crosses RabbitMQ
            await say(api, cid, "after")
            assert b"after" in (await chat(witness)).body
            for client in (stream, direct):
                assert await silent(client)
            retry = await WsClient.open(second, carol)
            await retry.send(
                "SUBSCRIBE", {"id": "1", "destination": f"/exchange/conversations/{cid}.*", "receipt": "r"}
            )
            assert (await retry.error_then_close()).headers["message"] == "access refused"
            for client in (stream, direct, witness):
                await client.close()
