"""`/metrics` scraped during traffic on both backends: the counters move as the traffic says,
and only who may read it does."""

import httpx
from backends import SECRET
from hub_server import RunningHub, hub_fixture, running_hub
from hutch.rules import Form, decode
from prometheus_client.parser import text_string_to_metric_families
from security.helpers import Api, fresh, signed_in

hub = hub_fixture(dev_mode=False, jwt_secret=SECRET)
PACKED = {"content-type": "application/x-hutch+json; rules=max@1"}


async def scrape(hub: RunningHub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{hub.url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_counters_move_with_the_traffic(hub: RunningHub) -> None:
    ana, bob = fresh("ana", "bob")
    cid = (await Api(hub, ana).call("POST", "/api/conversations", {"participants": [bob]}, status=201))["id"]
    before = await scrape(hub)
    anas, bobs = await signed_in(hub, ana, stream="auto"), await signed_in(hub, bob, stream="auto")
    during = await scrape(hub)
    assert (
        value(during, "hutch_sessions", transport="ws") - value(before, "hutch_sessions", transport="ws") == 2
    )
    for n in range(5):
        body = f'{{"a": "a", "o": "m", "d": {{"text": "m{n}"}}}}'.encode()
        await anas.send(
            "SEND",
            {"destination": f"/exchange/{ana}.publish/{cid}.messages", "receipt": f"r{n}", **PACKED},
            body,
        )
        assert (await anas.recv()).command in ("RECEIPT", "MESSAGE")
    chats = 0
    while chats < 5:  # bob has the five (and maybe their "stored" acks)
        if decode((await bobs.recv()).body, Form.PACKED_JSON, "max@1").get("action") == "add":
            chats += 1
    await bobs.send("SUBSCRIBE", {"destination": "/exchange/amq.nothing", "id": "x"})  # refused: ends bob
    while (await bobs.recv()).command != "ERROR":
        pass
    await bobs.close()
    await anas.close()
    after = await scrape(hub)

    def moved(name: str, **labels: str) -> float:
        return value(after, f"{name}_total", **labels) - value(before, f"{name}_total", **labels)

    assert moved("hutch_frames_received", command="SEND") == 5
    assert moved("hutch_frames_received", command="CONNECT") == 2
    assert moved("hutch_frames_sent", command="RECEIPT") >= 5  # one per SEND
    assert moved("hutch_deliveries") >= 5  # the five to bob (and whatever reached ana's own devices)
    assert moved("hutch_errors", message="access refused") == 1
    assert value(after, "hutch_sessions", transport="ws") == value(before, "hutch_sessions", transport="ws")
    assert value(after, "hutch_broker_up") == 1 and value(after, "hutch_store_up") == 1
    assert 0 < value(after, "hutch_store_latency_seconds") + value(after, "hutch_broker_latency_seconds") < 5
    assert moved("hutch_messages_stored_on_send") == 5  # stored by the node that took the SENDs
    assert moved("hutch_worker_stored") == 0  # so the worker had none to store
    assert "hutch_worker_lag_messages" in {name for name, _ in after}


async def test_only_loopback_or_the_token_reads_it() -> None:
    with running_hub(metrics_token="scrape-me") as hub:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            assert (await http.get("/metrics")).status_code == 401
            refused = await http.get("/metrics", headers={"authorization": "Bearer not-it"})
            assert refused.status_code == 401 and refused.json()["error_description"]
            allowed = await http.get("/metrics", headers={"authorization": "Bearer scrape-me"})
            assert allowed.status_code == 200 and "hutch_sessions" in allowed.text
