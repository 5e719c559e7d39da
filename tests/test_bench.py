"""The benchmark's quick mode runs end to end against every target (figures live in bench/, not here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def output_of(*command: str, timeout: float = 120) -> str:
    """What a bench command run with this Python from the repository prints; it must succeed."""
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bench_quick_mode() -> None:
    table = output_of("-m", "bench", "--quick", timeout=300)
    for target in ("hutch ", "hutch-rabbitmq", "webstomp"):
        assert target in table
    assert "Web-STOMP's" in table


def test_bench_chat_with_max_messages_counts_every_one_and_its_stored_ack() -> None:
    # The run fails (exit 1) when a message is lost or duplicated or a "stored" ack is missing.
    table = output_of(
        "-m", "bench", "--quick", "--scenarios", "chat", "--targets", "hutch,hutch-rabbitmq,webstomp", "--coded",
        timeout=300,
    )  # fmt: skip
    assert "MAX messages with uuids" in table
    for target in ("hutch ", "hutch-rabbitmq", "webstomp"):
        assert target in table


def test_codec_bench_prints_its_figures() -> None:
    printed = output_of("bench/codec.py", "--seconds", "0.05")
    assert "pack (compiled)" in printed and "packed msgpack" in printed


def test_hotpath_prints_the_hubs_own_cost_of_a_chat_message() -> None:
    printed = output_of("-m", "bench.hotpath", "--users", "20", "--group", "5", "--rounds", "2")
    assert "40 chat messages in conversations of 5" in printed
    assert "µs of CPU per message" in printed
    # each message: its copy to the 5 members, their 5 "stored" acks, the sender's receipt
    assert "11.0 frames out per message" in printed
    coded = output_of("-m", "bench.hotpath", "--users", "20", "--group", "5", "--rounds", "2", "--coded")
    assert "40 MAX messages in conversations of 5" in coded and "µs of CPU per message" in coded


def test_activity_bench_delivers_every_post_and_reads_timelines() -> None:
    before = vhosts()
    printed = output_of("-m", "bench.activity", "--quick", timeout=300)
    assert "3 posts to a context with 20 subscribers online over 2 nodes: 60 deliveries" in printed
    assert "0 posts not delivered exactly once" in printed and "µs (hubs" in printed
    assert "first page (20) in process, 20 reads: p50" in printed
    assert "first page (20) over HTTP from a node, 20 reads: p50" in printed
    assert vhosts() <= before


def test_notification_bench_appends_and_reads_rolled_up_pages() -> None:
    printed = output_of("-m", "bench.notifications", "--quick", timeout=300)
    assert "append: 100 notifications to 50 users' feeds" in printed
    assert "in process, 20 reads: p50" in printed and "over HTTP from a node, 20 reads: p50" in printed


def test_websub_bench_delivers_one_update_to_every_subscriber() -> None:
    printed = output_of("-m", "bench.websub", "--quick", timeout=300)
    assert "to 20 subscribers: last delivery after" in printed and "(20 delivered)" in printed


def test_direct_bench_broadcasts_with_two_broker_messages_and_batches_receipts() -> None:
    printed = output_of("-m", "bench.direct", "--quick", timeout=300)
    assert "broadcast: 1,000 known users, 20 online on 2 nodes" in printed
    assert "the broker carried 2 message(s) on hutch.direct for it" in printed
    assert "receipts: 3 messages to a group of 20 on 2 nodes: 57 deliveries reported" in printed


def vhosts() -> set[str]:
    return set(
        subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True).stdout.split()
    )


def test_routing_floor_prints_rabbitmqs_cost_and_leaves_no_vhost() -> None:
    before = vhosts()
    printed = output_of("-m", "bench.routing_floor", "--users", "20", "--group", "5", "--messages", "5")
    assert "100 messages routed through the MAX topology" in printed
    assert "100 messages published to an exchange with no bindings" in printed
    assert printed.count("µs per delivery") == 2
    assert vhosts() <= before


def test_ratios_read_the_right_way_round(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # bench/ is run from the repository, not installed
    from bench.__main__ import Result, cpu_ratio

    def costing(us: float) -> Result:
        return Result("t", 1, 1.0, 0, 0, 1.0, 1.0, 1.0, us, 0.0, 0.0, 1.0, 1.0, [])

    assert cpu_ratio(costing(10.0), costing(50.0)) == "1/5.0"  # five times cheaper
    assert cpu_ratio(costing(150.0), costing(50.0)) == "3.0x"  # three times dearer
    assert cpu_ratio(costing(10.0), costing(0.0)).startswith("not measured")  # a quick run, too short


def test_topic_match_bench_prints_the_hostile_cases() -> None:
    printed = output_of("-m", "bench.topic_match", "--repeat", "3")
    assert "500 '#' then z, 2,000-word key" in printed
    assert printed.count("µs per match") == 4


def test_fanout_churn_bench_prints_its_stalls() -> None:
    printed = output_of("-m", "bench.fanout_churn", "--subscribers", "50", "--conversations", "50")
    assert "50 subscribers on one key: attached in" in printed
    assert "50 conversations, the first message of each routed in" in printed


def test_the_soak_runs_its_faults_and_counts_nothing_lost() -> None:
    """A short soak (the 30-minute figures are in the README): the slow consumer is cut, the
    flooder refused, and every receipted chat message is stored and heard once."""
    printed = output_of(
        "-m", "bench.soak", "--minutes", "1", "--users", "6", "--fault-every", "20", "--faults", "slow,flood",
        timeout=300,
    )  # fmt: skip
    report = json.loads(printed[printed.index("{") :])
    assert report["chat receipted"] > 0 and report["lost"] == 0 and report["duplicated"] == 0
    assert report["stored once"] == report["chat receipted"]
    slow, flooded = (fault.split(" ", 1)[1] for fault in report["faults"])
    # cut or refused: the hub's ERROR, or its close when the ERROR could not be read first
    assert slow in ("slow consumer: ERROR slow consumer", "slow consumer: closed by the hub")
    assert flooded in ("flood: ERROR rate limit", "flood: closed by the hub")
    assert 500 not in {int(status) for status in report["REST answers"]}
