"""Random frames from a signed-in stranger: the hub never fails, never leaks a conversation.

Hypothesis throws destinations, headers and bodies (JSON of every shape, and raw bytes) at a
live hub as a user who is in no conversation; after each attempt a member speaks, and the
stranger must not hear it, whatever the attempt opened. The hub must answer every frame with
a RECEIPT or an ERROR, and log no unexpected failure.
"""

import asyncio
import json
import logging
import uuid

import hypothesis.strategies as st
import pytest
from hub_server import RunningHub, WsClient, join
from hypothesis import HealthCheck, given, settings
from security.helpers import chat, fresh, inbox
from stomp_frames import client_frame

TEXT = st.characters(blacklist_categories=("Cs",))  # what a client can encode

# The live hub's own libraries draw from `random` while an example runs (websockets' masks,
# aio-pika's jitter): not the strategy's doing.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

NAMES = [
    "alice",
    "bob",
    "carol",
    "conversations",
    "activity",
    "hutch.control",
    "amq.topic",
    "messages",
    "push",
]


def destinations(cid: str, alice: str) -> st.SearchStrategy[str]:
    word = st.sampled_from([cid, alice, "#", "*", "x", f"{cid}.messages", f"{cid}.*", "internal", ""])
    exchange = st.sampled_from(
        [*NAMES, f"{alice}.subscribe", f"{alice}.publish", "carol.publish", "carol.subscribe"]
    )
    prefix = st.sampled_from(
        ["/exchange/", "/topic/", "/queue/", "/amq/queue/", "/temp-queue/", "/reply-queue/", "/", ""]
    )
    built = st.builds(
        lambda p, e, w: f"{p}{e}/{w}" if p == "/exchange/" else f"{p}{w or e}", prefix, exchange, word
    )
    node = "hutch.node.*"
    aimed = st.sampled_from(
        [
            f"/exchange/conversations/{cid}.*", f"/exchange/conversations/{cid}.messages", "/exchange/conversations/#",
            f"/exchange/{alice}.subscribe", f"/exchange/{alice}.publish/{cid}.messages", "/topic/#", "/exchange/amq.topic/#",
            "/exchange/hutch.control", f"/amq/queue/{node}", "/queue/messages", "/amq/queue/push", "/exchange/activity/#",
        ]
    )  # fmt: skip
    return st.one_of(aimed, built, st.text(TEXT, max_size=40))


HEADER_NAMES = [
    "durable", "persistent", "auto-delete", "prefetch-count", "ack", "x-since", "content-type", "reply-to",
    "x-hutch-id", "x-hutch-replay", "user-id", "message-id", "subscription", "transaction", "id", "x-hutch-form",
]  # fmt: skip
HEADER_VALUES = st.one_of(
    st.sampled_from(["true", "false", "client", "auto", "0", "65536", "²", "1-0", "0-0", "application/json; rules=max@1",
                     "application/x-hutch+json; rules=max@1", "application/x-hutch+msgpack; rules=max@1", "/temp-queue/a"]),
    st.text(TEXT, max_size=20).filter(lambda v: "\n" not in v and "\r" not in v and ":" not in v),
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


def body_of(value: object) -> bytes:
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (ValueError, TypeError):
        return b"{}"


def frames(cid: str, alice: str) -> st.SearchStrategy[list[tuple[str, dict[str, str], bytes]]]:
    frame = st.tuples(
        st.sampled_from(["SUBSCRIBE", "SUBSCRIBE", "SEND", "SEND", "UNSUBSCRIBE", "BEGIN", "COMMIT", "ACK"]),
        st.builds(
            lambda destination, extra: {"destination": destination, **extra},
            destinations(cid, alice),
            st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=2),
        ),
        st.one_of(JSON.map(body_of), st.binary(max_size=30)),
    )
    return st.lists(frame, min_size=1, max_size=4)


async def attempt(
    hub: RunningHub, stranger: str, sent: list[tuple[str, dict[str, str], bytes]]
) -> WsClient | None:
    """Send the frames; the connection if it is still open (every frame answered), else None."""
    client = await WsClient.open(hub, stranger)
    for number, (command, headers, body) in enumerate(sent):
        headers = {"id": f"s{number}", **headers, "receipt": f"r{number}"}
        if command not in ("SEND",):
            body = b""
        await client.send_raw(client_frame(command, headers, body))  # binary: any bytes go
        while True:
            try:
                frame = await client.recv(5)
            except Exception:  # closed after an ERROR it sent before
                return None
            if frame.command == "ERROR":
                assert frame.headers.get("message"), frame
                return None
            if frame.command == "RECEIPT" and frame.headers["receipt-id"] == f"r{number}":
                break
    return client


@pytest.fixture
def clean_log(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="hutch")
    yield caplog
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("hutch")]
    assert not failures, [r.getMessage() for r in failures]


@pytest.mark.parametrize("run", [0])
def test_random_frames_never_fail_the_hub_nor_leak(
    guarded: RunningHub, clean_log: pytest.LogCaptureFixture, run: int
) -> None:
    alice, bob, stranger = fresh("alice", "bob", "carol")
    cid = fresh("c")[0]
    join(guarded, cid, alice, bob)

    @given(sent=frames(cid, alice))
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    def never_leaks(sent: list[tuple[str, dict[str, str], bytes]]) -> None:
        async def run_once() -> None:
            client = await attempt(guarded, stranger, sent)
            speaker = await inbox(guarded, alice)
            secret = f"secret-{uuid.uuid4().hex}".encode()
            await speaker.publish(f"/exchange/{alice}.publish/{cid}.messages", b'{"text": "%s"}' % secret)
            assert secret in (await chat(speaker)).body
            if client is not None:
                try:
                    while True:
                        frame = await client.recv(0.3)
                        assert secret not in frame.body, (sent, frame)
                except TimeoutError:
                    pass
                await client.close()
            await speaker.close()

        asyncio.run(run_once())

    never_leaks()
