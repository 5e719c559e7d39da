"""Token buckets, without a clock of their own: what passes, what is refused, for how long."""

from hutch.hub.core.ratelimit import Bucket, CallerLimits, Flow, Rate, UserFlows

RATE = Rate(frames=10, frames_burst=20, bytes=1000, bytes_burst=2000)


def test_a_bucket_takes_its_burst_then_its_rate() -> None:
    bucket = Bucket(rate=10, burst=20)
    assert all(bucket.take(1, 0.0) for _ in range(20))
    assert not bucket.take(1, 0.0)
    assert bucket.wait(1) == 0.1
    assert bucket.take(1, 0.1) and not bucket.take(1, 0.1)
    assert bucket.take(20, 100.0) and not bucket.take(21, 200.0)  # never more than the burst


def test_no_rate_is_no_limit() -> None:
    bucket = Bucket(rate=0, burst=0)
    assert all(bucket.take(10**9, 0.0) for _ in range(3)) and bucket.wait(5) == 0


def test_a_flow_names_the_limit_it_met() -> None:
    flow = Flow(RATE)
    assert flow.refusal(20, 100, 0.0) is None
    assert "frames a second on this connection" in (flow.refusal(1, 1, 0.0) or "")
    flow = Flow(RATE)
    assert "bytes a second on this connection" in (flow.refusal(1, 2001, 0.0) or "")


def test_a_users_connections_share_the_users_buckets() -> None:
    users = UserFlows(Rate(frames=10, frames_burst=30, bytes=0, bytes_burst=0))
    first, second = Flow(RATE), Flow(RATE)
    users.join(first, "ana")
    users.join(second, "ana")
    assert first.refusal(20, 0, 0.0) is None  # 20 of ana's 30
    assert "for this user" in (second.refusal(20, 0, 0.0) or "")  # within its own 20, over ana's
    users.leave("ana")
    users.leave("ana")
    again = Flow(RATE)
    users.join(again, "ana")
    assert again.refusal(20, 0, 0.0) is None  # a fresh bucket once ana had gone


def test_rest_callers_are_told_when_to_come_back() -> None:
    limits = CallerLimits(rate=2, burst=4)
    assert [limits.retry_after("ana", 0.0) for _ in range(5)] == [None, None, None, None, 1]
    assert limits.retry_after("bob", 0.0) is None  # each caller its own
    assert limits.retry_after("ana", 0.5) is None
    assert CallerLimits(rate=0, burst=0).retry_after("ana", 0.0) is None
