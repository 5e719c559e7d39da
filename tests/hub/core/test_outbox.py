"""The bounded outbox, without a socket."""

from hutch.hub.core.outbox import Outbox


def test_frames_wait_in_order_and_past_the_limit_it_says_so() -> None:
    told = []
    outbox = Outbox(10, on_ready=lambda: told.append("ready"))
    assert outbox.put([b"12345"]) and outbox.put([b"678"])
    assert told == ["ready", "ready"] and outbox.size == 8
    assert not outbox.put([b"abc"])  # 11 bytes wait: a slow consumer
    assert outbox.take() == [b"12345", b"678", b"abc"] and outbox.size == 0


def test_a_backlog_is_given_room_when_what_waits_is_taken() -> None:
    outbox = Outbox(10)
    assert outbox.has_room
    outbox.put([b"12345"])
    assert not outbox.has_room  # half the limit waits
    woken = []
    outbox.when_room(lambda: woken.append(1))
    assert woken == []
    outbox.take()
    assert woken == [1] and outbox.has_room
    outbox.take()
    assert woken == [1]  # once


def test_closing_sends_what_waits_then_is_finished() -> None:
    outbox = Outbox(10)
    outbox.put([b"x"])
    outbox.close()
    assert not outbox.finished and not outbox.has_room
    outbox.take()
    assert outbox.finished
    assert outbox.put([b"late"]) and outbox.take() == []  # nothing more once closing
