"""RabbitMQ STOMP behaviours a client relies on, through stomp.py and raw sockets, on both backends."""

import socket
import time
import uuid

from hub_server import RunningHub, hub_fixture, stomp_py
from stomp_frames import parse_server_frames

# A small outbox, to show one large frame is still taken whole.
hub = hub_fixture(outbox_max_bytes=64 * 1024)

MIB = 1024 * 1024


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_16_mib_message_goes_both_ways_over_tcp(hub: RunningHub) -> None:
    topic = f"/topic/{unique('big')}"
    reader, got = stomp_py(hub, "tcp", "rita")
    reader.subscribe(topic, id="1", headers={"receipt": "s"})
    got.receipt()
    writer, sent = stomp_py(hub, "tcp", "will")
    body = "x" * (16 * MIB)
    writer.send(topic, body, headers={"receipt": "big"})
    assert sent.receipt(timeout=30) == "big"
    message = got.message(timeout=30)  # one frame far past the 64 KiB outbox: still taken
    assert len(message.body) == 16 * MIB
    reader.disconnect()
    writer.disconnect()


def test_unsubscribe_with_persistent_true_ends_a_durable_subscription(hub: RunningHub) -> None:
    topic = f"/topic/{unique('legacy')}"
    legacy = {"persistent": "true", "receipt": "r"}
    conn, events = stomp_py(hub, "tcp", "paula")
    conn.subscribe(topic, id="news", headers=legacy)
    events.receipt()
    conn.unsubscribe("news", headers={"persistent": "true", "receipt": "u"})
    events.receipt(timeout=20)  # RabbitMQ deletes the queue first: slow on a loaded machine
    conn.disconnect()
    sender, sent = stomp_py(hub, "tcp", "sam")
    sender.send(topic, "after the end", headers={"receipt": "p"})
    sent.receipt()
    conn, events = stomp_py(hub, "tcp", "paula")
    conn.subscribe(topic, id="news", headers=legacy)
    events.receipt()
    time.sleep(0.3)
    assert events.messages.empty()  # the old queue went with the UNSUBSCRIBE: nothing kept
    conn.unsubscribe("news", headers={"persistent": "true"})
    conn.disconnect()
    sender.disconnect()


def test_back_on_a_durable_subscription_the_receipt_comes_before_what_waited(hub: RunningHub) -> None:
    topic = f"/topic/{unique('waited')}"
    durable = (
        f"SUBSCRIBE\nid:news\ndestination:{topic}\ndurable:true\nauto-delete:false\nreceipt:back\n\n\x00"
    )
    first = raw_session(hub, "dora")
    first.sendall(durable.encode())
    assert commands(first) == ["RECEIPT"]
    first.close()
    sender, sent = stomp_py(hub, "tcp", "sam")
    for n in range(3):
        sender.send(topic, f"waited {n}", headers={"receipt": f"p{n}"})
        sent.receipt()
    again = raw_session(hub, "dora")
    again.sendall(durable.encode())
    assert commands(again, count=4) == ["RECEIPT", "MESSAGE", "MESSAGE", "MESSAGE"]
    again.sendall(b"UNSUBSCRIBE\nid:news\ndurable:true\nreceipt:u\n\n\x00")
    commands(again)
    again.close()
    sender.disconnect()


def test_nack_without_requeue_drops_the_message(hub: RunningHub) -> None:
    queue = f"/queue/{unique('work')}"
    sender, sent = stomp_py(hub, "tcp", "sam")
    sender.send(queue, "poison", headers={"receipt": "p"})
    sent.receipt()
    worker, got = stomp_py(hub, "tcp", "wes")
    worker.subscribe(queue, id="1", ack="client-individual")
    message = got.message()
    worker.nack(message.headers["ack"], "1", requeue=False)  # stomp.py sends "False"
    worker.disconnect()
    again, got_again = stomp_py(hub, "tcp", "wes")
    again.subscribe(queue, id="1", ack="client-individual")
    time.sleep(0.5)
    assert got_again.messages.empty()  # dropped, not requeued
    again.disconnect()
    sender.disconnect()


def test_receipts_of_a_transaction_come_at_its_commit(hub: RunningHub) -> None:
    sock = raw_session(hub, "tess")
    topic = f"/topic/{unique('tx')}"
    sock.sendall(
        f"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:{topic}\ntransaction:t\nreceipt:s\n\nx\x00".encode()
    )
    sock.settimeout(0.3)
    try:
        early = sock.recv(4096)
    except TimeoutError:
        early = b""
    assert early.strip(b"\n") == b""  # nothing before the commit
    sock.sendall(b"COMMIT\ntransaction:t\nreceipt:c\n\n\x00")
    frames = read(sock, 2)
    assert sorted(f.headers["receipt-id"] for f in frames) == ["c", "s"]
    sock.close()


def raw_session(hub: RunningHub, user: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", hub.tcp_port), timeout=10)
    sock.sendall(f"CONNECT\naccept-version:1.2\nhost:/\nlogin:{user}\npasscode:x\n\n\x00".encode())
    assert [f.command for f in read(sock, 1)] == ["CONNECTED"]
    return sock


def read(sock: socket.socket, count: int) -> list:  # type: ignore[type-arg]
    received = b""
    sock.settimeout(10)
    while len(
        [f for f in parse_server_frames(received) if f.command != "HEARTBEAT"]
    ) < count or not received.endswith(b"\x00"):
        data = sock.recv(65536)
        assert data, f"closed after {received!r}"
        received += data
    return [f for f in parse_server_frames(received) if f.command != "HEARTBEAT"]


def commands(sock: socket.socket, count: int = 1) -> list[str]:
    return [f.command for f in read(sock, count)]
