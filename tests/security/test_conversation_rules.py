"""Conversation rules an attacker with a valid token tries to bend, on both stores."""

from hub_server import RunningHub
from security.helpers import Api, fresh


async def test_leaving_a_pair_then_asking_again_starts_a_new_one(guarded: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    alice_api, bob_api = Api(guarded, ana), Api(guarded, bob)
    first = await alice_api.call("POST", "/api/conversations", {"participants": [bob]}, status=201)
    again = await alice_api.call("POST", "/api/conversations", {"participants": [bob]}, status=200)
    assert again["id"] == first["id"]
    await bob_api.call("DELETE", f"/api/conversations/{first['id']}/participants/{bob}", status=204)
    fresh_pair = await alice_api.call("POST", "/api/conversations", {"participants": [bob]}, status=201)
    assert fresh_pair["id"] != first["id"]
    assert sorted(fresh_pair["participants"]) == sorted([ana, bob])
    await bob_api.call("GET", f"/api/conversations/{fresh_pair['id']}")


async def test_a_member_of_a_pair_cannot_remove_the_other(guarded: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    api = Api(guarded, ana)
    pair = await api.call("POST", "/api/conversations", {"participants": [bob]}, status=201)
    await api.refused("DELETE", f"/api/conversations/{pair['id']}/participants/{bob}", 403)
    await Api(guarded, bob).call("GET", f"/api/conversations/{pair['id']}")
    await api.refused("POST", f"/api/conversations/{pair['id']}/owner", 400, json={"username": bob})


async def test_an_admin_outside_a_conversation_cannot_post_into_it(guarded: RunningHub) -> None:
    ana, bob, boss = fresh("ana", "bob", "boss")
    pair = await Api(guarded, ana).call("POST", "/api/conversations", {"participants": [bob]}, status=201)
    admin = Api(guarded, boss, roles=["admin"])
    await admin.call("GET", f"/api/conversations/{pair['id']}")  # may read it
    await admin.refused("POST", f"/api/conversations/{pair['id']}/messages", 403, json={"text": "hi"})
    await admin.refused("POST", f"/api/conversations/{pair['id']}/read", 403, json={"id": "1-0"})
    assert await Api(guarded, ana).call("GET", f"/api/conversations/{pair['id']}/messages") == []


async def test_a_stranger_reads_and_changes_nothing(guarded: RunningHub) -> None:
    ana, bob, carol, mallory = fresh("ana", "bob", "carol", "mallory")
    group = await Api(guarded, ana).call(
        "POST", "/api/conversations", {"participants": [bob, carol]}, status=201
    )
    cid = group["id"]
    stranger = Api(guarded, mallory)
    for method, path, body in [
        ("GET", f"/api/conversations/{cid}", None),
        ("GET", f"/api/conversations/{cid}/messages", None),
        ("POST", f"/api/conversations/{cid}/messages", {"text": "hi"}),
        ("POST", f"/api/conversations/{cid}/read", {"id": "1-0"}),
        ("GET", f"/api/conversations/{cid}/read", None),
        ("PATCH", f"/api/conversations/{cid}", {"displayName": "mine"}),
        ("DELETE", f"/api/conversations/{cid}", None),
        ("POST", f"/api/conversations/{cid}/participants", {"username": mallory}),
        ("DELETE", f"/api/conversations/{cid}/participants/{bob}", None),
        ("POST", f"/api/conversations/{cid}/owner", {"username": mallory}),
    ]:
        await stranger.refused(method, path, 403, json=body)
    # A member who is not the owner changes nothing of the group either.
    member = Api(guarded, bob)
    await member.refused("PATCH", f"/api/conversations/{cid}", 403, json={"displayName": "mine"})
    await member.refused("DELETE", f"/api/conversations/{cid}/participants/{carol}", 403)
    await member.refused("POST", f"/api/conversations/{cid}/owner", 403, json={"username": bob})
    after = await Api(guarded, ana).call("GET", f"/api/conversations/{cid}")
    assert (after["displayName"], sorted(after["participants"]), after["owner"]) == (
        group["displayName"], sorted([ana, bob, carol]), ana,
    )  # fmt: skip


async def test_read_positions_of_a_conversation_that_is_not_there_or_badly_named(guarded: RunningHub) -> None:
    (ana,) = fresh("ana")
    for cid in ("nowhere0123456789", "a%23b", "x" * 300):
        await Api(guarded, ana).refused("GET", f"/api/conversations/{cid}/read", 404)
