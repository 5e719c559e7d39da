"""Side-by-side load benchmark: hutch (embedded, and over RabbitMQ) against RabbitMQ Web-STOMP.

    python -m bench [--quick] [--scenarios fanout,chat,connections,activity,notifications,websub,direct]
                    [--targets hutch,hutch-rabbitmq,webstomp] [--subscribers 1000] [--publishers 4]
                    [--users 500] [--group 5] [--connections 10000] [--heartbeat 10000] [--hold 30]
                    [--messages 200] [--rate 0] [--processes 4] [--coded]

Scenarios "activity", "notifications", "websub" and "direct" measure what only hutch does (see
bench/activity.py, bench/notifications.py, bench/websub.py and bench/direct.py). Scenario "fanout": S subscribers on one topic, P publishers. Scenario "chat": U users in
conversations of G members on the MAX topology, each subscribed to its own
`<user>.subscribe` and publishing to `<user>.publish/<cid>.messages` (on Web-STOMP the
bench declares that topology itself, in a vhost of its own). Scenario "connections": many
subscribers with heart-beats held idle, then one publisher; none may be dropped, nothing
lost. With --coded, chat messages are MAX messages with a uuid in packed JSON, as the widget
sends them (checked, packed and stored under their uuid by hutch), instead of plain text. Burst mode (--rate 0, each publisher sends as fast as its receipts return) or a fixed
rate per publisher.
For each target it prints deliveries per second, latency p50/p99/max, lost and
duplicated messages, the server's CPU time per delivery (its whole process tree,
RabbitMQ included where it does the work, and RabbitMQ's part of it shown apart), its
memory per connection, and the CPU the load generator used; then the ratios against
Web-STOMP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import redis

from bench import NO_RATE_LIMITS
from bench.loadgen import Report, Role, process_main

AMQP = os.environ.get("HUTCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
# hutch over RabbitMQ stores in Redis, as deployed: a database of the bench's own, emptied before and after
REDIS = os.environ.get("HUTCH_BENCH_REDIS", "redis://127.0.0.1:6379/13")
CLOCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """The process and its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        pending.extend(int(c) for c in children)
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def part(pids: list[int], command: str) -> list[int]:
    """The processes of one server among a target's: RabbitMQ ("beam.smp", all of Web-STOMP, part
    of hutch over RabbitMQ) or Redis ("redis-server")."""
    return [pid for pid in pids if _command_name(pid) == command]


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def beam_pid() -> int:
    out = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    if not out:
        raise SystemExit("bench: RabbitMQ is not running (rabbitmq-server -detached)")
    return int(out[0])


@dataclass
class Target:
    name: str
    url: str
    host: str
    login: str
    passcode: str
    pids: list[int]
    process: subprocess.Popen | None = None
    http: str | None = None  # hutch's base URL, for its REST API

    @property
    def is_hutch(self) -> bool:
        return self.http is not None

    def login_for(self, user: str) -> str:
        """hutch takes each user's own login (dev mode); Web-STOMP has one RabbitMQ user."""
        return user if self.is_hutch else self.login

    vhost: str | None = None  # a RabbitMQ vhost of the run's own, deleted with everything in it

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
        if self.vhost is not None:
            subprocess.run(["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True)
            empty_redis()


def add_vhost() -> str:
    vhost = f"bench-{uuid.uuid4().hex[:6]}"
    for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", *command], check=True, capture_output=True)
    return vhost


def empty_redis() -> int:
    """Empty the bench's Redis database; the server's pid."""
    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    return int(client.info("server")["process_id"])


def start_hutch(name: str, amqp: bool) -> Target:
    port = free_port()
    hutch = shutil.which("hutch") or str(Path(sys.executable).with_name("hutch"))
    command = [hutch, "serve", "--dev-mode", "--port", str(port), "--log-level", "warning"]
    vhost = add_vhost() if amqp else None
    if vhost:  # its own vhost: what the run leaves queued goes with it
        command += ["--amqp", f"{AMQP.rstrip('/')}/{vhost}"]
    # On RabbitMQ the node runs the storing worker too, as a deployment runs `hutch worker`:
    # chat messages are stored and acked there as on the embedded broker.
    environment = os.environ | NO_RATE_LIMITS | {"HUTCH_WORKER": "true"}
    servers = []
    if amqp:  # the node, its worker, RabbitMQ and Redis: every process that serves counts
        environment["HUTCH_REDIS_URL"] = REDIS
        servers = [beam_pid(), empty_redis()]
    process = subprocess.Popen(command, preexec_fn=_raise_nofile, env=environment)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health")
            break
        except httpx.TransportError:
            time.sleep(0.05)
    pids = [process.pid, *servers]
    return Target(
        name, f"ws://127.0.0.1:{port}/ws", "/", "bench", "x", pids, process, f"http://127.0.0.1:{port}", vhost
    )


def start_webstomp() -> Target:
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_web_stomp"], check=True, capture_output=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", 15674), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return Target("webstomp", "ws://127.0.0.1:15674/ws", "/", "guest", "guest", [beam_pid()])


@dataclass
class Plan:
    """One scenario on one target: who subscribes where, who publishes where."""

    title: str
    subscribers: list[tuple[str, str]]  # (login, destination)
    publishers: list[tuple[str, str, int]]  # (login, destination, first sequence number)
    expected: int  # messages every subscriber should receive
    cleanup: list[str]  # rabbitmqctl arguments to run afterwards
    heartbeat: int = 0  # ms, for the subscribers
    acks: int = 0  # "stored" acks every subscriber should receive (chat on hutch)
    hold: float = 0.0  # seconds idle before publishing


def fanout_plan(target: Target, args: argparse.Namespace) -> Plan:
    destination = f"/topic/bench:{uuid.uuid4().hex[:8]}"
    login = target.login_for("bench")
    return Plan(
        f"fanout: {args.subscribers} subscribers, {args.publishers} publishers x {args.messages} messages",
        [(login, destination)] * args.subscribers,
        [(login, destination, i * args.messages) for i in range(args.publishers)],
        args.publishers * args.messages,
        [],
    )


def connections_plan(target: Target, args: argparse.Namespace) -> Plan:
    """Many idle subscribers with heart-beats, held a while; then every one must get every message."""
    destination = f"/topic/bench:{uuid.uuid4().hex[:8]}"
    login = target.login_for("bench")
    return Plan(
        f"connections: {args.connections} subscribers with {args.heartbeat} ms heart-beats, idle"
        f" {args.hold:g} s, then 1 publisher x {args.messages} messages",
        [(login, destination)] * args.connections,
        [(login, destination, 0)],
        args.messages,
        [],
        heartbeat=args.heartbeat,
        hold=args.hold,
    )


def chat_plan(target: Target, args: argparse.Namespace) -> Plan:
    run = uuid.uuid4().hex[:6]
    users = [f"u{run}n{i}" for i in range(args.users)]
    groups = [users[i : i + args.group] for i in range(0, len(users), args.group)]
    cleanup: list[str] = []
    if target.is_hutch:
        cids = [create_conversation(target, group) for group in groups]
    else:
        vhost = add_vhost()
        target.host = vhost
        cids = [f"c{run}n{i}" for i in range(len(groups))]
        asyncio.run(declare_max_topology(f"{AMQP.rstrip('/')}/{vhost}", list(zip(cids, groups, strict=True))))
        cleanup.append(f"delete_vhost {vhost}")
    return Plan(
        f"chat: {args.users} users in conversations of {args.group}, each sending {args.messages}"
        + (" MAX messages with uuids" if args.coded else " messages"),
        [(target.login_for(user), f"/exchange/{user}.subscribe") for user in users],
        [
            (target.login_for(user), f"/exchange/{user}.publish/{cid}.messages", index * args.messages)
            for cid, group in zip(cids, groups, strict=True)
            for index, user in enumerate(group)
        ],
        args.group * args.messages,
        cleanup,
        # hutch stores every chat message and acks it to the members, as MAX does
        acks=args.group * args.messages if target.is_hutch else 0,
    )


def create_conversation(target: Target, group: list[str]) -> str:
    answer = httpx.post(
        f"{target.http}/api/conversations",
        json={"participants": group[1:], "displayName": "bench"},
        headers={"Authorization": "Bearer dev", "X-Oauth-Username": group[0]},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["id"]


async def declare_max_topology(url: str, conversations: list[tuple[str, list[str]]]) -> None:
    """What hutch keeps for Web-STOMP: per-user exchanges and the member bindings of MAX."""
    import aio_pika

    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    hub = await channel.declare_exchange("conversations", aio_pika.ExchangeType.TOPIC, durable=True)
    for cid, members in conversations:
        for user in members:
            publish = await channel.declare_exchange(
                f"{user}.publish", aio_pika.ExchangeType.TOPIC, durable=True
            )
            subscribe = await channel.declare_exchange(
                f"{user}.subscribe", aio_pika.ExchangeType.FANOUT, durable=True
            )
            await hub.bind(publish, f"{cid}.*")
            await subscribe.bind(hub, f"{cid}.*")
    await connection.close()


def _raise_nofile() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Result:
    target: str
    deliveries: int
    seconds: float
    lost: int
    duplicated: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_us_per_delivery: float
    rabbitmq_cpu_us_per_delivery: float  # the part of the server's CPU that RabbitMQ used
    redis_cpu_us_per_delivery: float  # and Redis
    server_kib_per_connection: float
    generator_cpu_s: float
    errors: list[str]
    idle_cpu_percent: float = 0.0  # connections: the server's CPU while the connections sit idle


def run(target: Target, plan: Plan, args: argparse.Namespace) -> Result:
    processes = max(1, min(args.processes, len(plan.subscribers)))
    roles = [
        Role(
            url=target.url, host=target.host, login=target.login, passcode=target.passcode,
            subscribers=plan.subscribers[index::processes], publishers=plan.publishers[index::processes],
            messages=args.messages, rate=args.rate, expected=plan.expected, acks=plan.acks, size=args.size,
            coded=args.coded,
            heartbeat=plan.heartbeat, hold=plan.hold,
        )
        for index in range(processes)
    ]  # fmt: skip
    rss_before = rss_bytes(target.pids)
    context = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for role in roles:
        parent, child = context.Pipe()
        worker = context.Process(target=process_main, args=(role, child), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    failed: list[str] = []
    for pipe in pipes:
        if pipe.poll(180):
            pipe.recv()  # "ready"
        else:
            failed.append("a load generator process never got its subscriptions in place")
    time.sleep(0.5)
    rss_connected = rss_bytes(target.pids)
    cpu_before = cpu_seconds(target.pids)
    rabbitmq, redis_server = part(target.pids, "beam.smp"), part(target.pids, "redis-server")
    rabbitmq_before, redis_before = cpu_seconds(rabbitmq), cpu_seconds(redis_server)
    started = time.monotonic()
    for pipe in pipes:
        with contextlib.suppress(BrokenPipeError):  # a process that failed has sent its report already
            pipe.send("go")
    idle_cpu_percent = 0.0
    if plan.hold > 1:  # the generator holds the connections idle, heart-beats only, then publishes
        time.sleep(0.5)
        idle_from, idle_cpu = time.monotonic(), cpu_seconds(target.pids)
        time.sleep(plan.hold - 1.0)
        idle_cpu_percent = 100 * (cpu_seconds(target.pids) - idle_cpu) / (time.monotonic() - idle_from)
    reports: list[Report] = []
    for pipe in pipes:
        report: object = None
        while not isinstance(report, Report):
            if not pipe.poll(300):
                report = Report(errors=["a load generator process did not report"])
                break
            try:
                report = pipe.recv()
            except EOFError:
                report = Report(errors=["a load generator process died"])
        reports.append(report)  # type: ignore[arg-type]
    if failed:
        reports.append(Report(errors=failed))
    seconds = time.monotonic() - started - plan.hold  # the deliveries, not the idle hold
    cpu = cpu_seconds(target.pids) - cpu_before
    rabbitmq_cpu = cpu_seconds(rabbitmq) - rabbitmq_before
    redis_cpu = cpu_seconds(redis_server) - redis_before
    for worker in workers:
        worker.join(10)
        if worker.is_alive():
            worker.kill()
    latencies = sorted(us for r in reports for us in r.latencies_us)
    deliveries = sum(r.received for r in reports)

    def percentile(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000 if latencies else float("nan")
        )

    for command in plan.cleanup:
        subprocess.run(["rabbitmqctl", *command.split()], capture_output=True)
    connections = len(plan.subscribers) + len(plan.publishers)
    return Result(
        target.name, deliveries, seconds, sum(r.lost for r in reports), sum(r.duplicated for r in reports),
        percentile(0.5), percentile(0.99), latencies[-1] / 1000 if latencies else float("nan"),
        cpu / deliveries * 1e6 if deliveries else float("nan"),
        rabbitmq_cpu / deliveries * 1e6 if deliveries else float("nan"),
        redis_cpu / deliveries * 1e6 if deliveries else float("nan"),
        max(0, rss_connected - rss_before) / connections / 1024,
        sum(r.cpu_seconds for r in reports), [e for r in reports for e in r.errors], idle_cpu_percent,
    )  # fmt: skip


def print_table(title: str, results: list[Result], args: argparse.Namespace) -> None:
    mode = f"fixed rate {args.rate:g}/s per publisher" if args.rate else "burst"
    print(f"\n{title}, {mode}")
    header = f"{'target':16} {'deliv/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>6} {'dup':>5} {'cpu us/deliv':>13} {'of it RMQ':>10} {'Redis':>6} {'KiB/conn':>9} {'gen cpu s':>10}"
    print(header)
    print("-" * len(header))
    for r in results:
        rate = r.deliveries / r.seconds if r.seconds else 0.0
        print(
            f"{r.target:16} {rate:>9,.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.lost:>6} {r.duplicated:>5}"
            f" {r.server_cpu_us_per_delivery:>13.1f} {r.rabbitmq_cpu_us_per_delivery:>10.1f}"
            f" {r.redis_cpu_us_per_delivery:>6.1f}"
            f" {r.server_kib_per_connection:>9.1f} {r.generator_cpu_s:>10.1f}"
        )
        if r.idle_cpu_percent:
            print(f"  server CPU while the connections sat idle: {r.idle_cpu_percent:.1f} % of a core")
        for error in r.errors[:3]:
            print(f"  error: {error}")
    baseline = next((r for r in results if r.target == "webstomp"), None)
    if baseline:
        for r in results:
            if r is not baseline and r.server_cpu_us_per_delivery:
                print(
                    f"{r.target}: server CPU per delivery {cpu_ratio(r, baseline)} of Web-STOMP's,"
                    f" p99 {r.p99_ms / baseline.p99_ms:.2f}x"
                )


def cpu_ratio(result: Result, baseline: Result) -> str:
    """ "1/5.0" where it costs less than the baseline, "1.3x" where it costs more."""
    if not baseline.server_cpu_us_per_delivery > 0:  # a run too short for /proc's clock ticks
        return "not measured (Web-STOMP's CPU read 0)"
    fraction = result.server_cpu_us_per_delivery / baseline.server_cpu_us_per_delivery
    return f"1/{1 / fraction:.1f}" if fraction <= 1 else f"{fraction:.1f}x"


def save(path: Path, scenario: str, title: str, rate: float, results: list[Result]) -> None:
    saved = json.loads(path.read_text()) if path.exists() else []
    for r in results:
        entry = asdict(r) | {"scenario": scenario, "title": title, "rate_per_publisher": rate}
        entry["deliveries_per_second"] = r.deliveries / r.seconds if r.seconds else 0.0
        saved.append(entry)
    path.write_text(json.dumps(saved, indent=1, default=str))


# Scenarios of what only hutch does, each a module of its own (`python -m bench.activity`).
HUTCH_ONLY = {
    "activity": "bench.activity",
    "notifications": "bench.notifications",
    "websub": "bench.websub",
    "direct": "bench.direct",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scenarios", default="fanout,chat,connections")
    parser.add_argument("--targets", default="hutch,hutch-rabbitmq,webstomp")
    parser.add_argument("--subscribers", type=int, default=1000, help="fanout")
    parser.add_argument("--publishers", type=int, default=4, help="fanout")
    parser.add_argument("--users", type=int, default=500, help="chat")
    parser.add_argument("--group", type=int, default=5, help="chat: members per conversation")
    parser.add_argument("--connections", type=int, default=10_000, help="connections: idle subscribers")
    parser.add_argument("--heartbeat", type=int, default=10_000, help="connections: heart-beat ms")
    parser.add_argument("--hold", type=float, default=30.0, help="connections: seconds held idle")
    parser.add_argument("--messages", type=int, default=200, help="per publisher")
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s per publisher; 0 = burst")
    parser.add_argument("--rates", default="", help="several fixed rates, one run each: latency against load")
    parser.add_argument("--json", type=Path, help="append every result to this JSON file (for bench/plot.py)")
    parser.add_argument("--size", type=int, default=100, help="body bytes")
    parser.add_argument("--coded", action="store_true", help="chat: MAX messages with uuids, not plain text")
    parser.add_argument("--processes", type=int, default=4, help="load generator processes")
    parser.add_argument("--quick", action="store_true", help="a small run that proves the bench works")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.publishers, args.messages, args.processes = 20, 2, 20, 2
        args.users, args.group = 20, 5
        args.connections, args.heartbeat, args.hold = 20, 1000, 1.5
    failed = False
    rates = [float(r) for r in args.rates.split(",") if r] or [args.rate]
    for scenario, rate in itertools.product(args.scenarios.split(","), rates):
        if scenario in HUTCH_ONLY:  # no Web-STOMP counterpart: figures of hutch alone
            importlib.import_module(HUTCH_ONLY[scenario]).main(["--quick"] if args.quick else [])
            continue
        args.rate = rate
        make_plan = {"fanout": fanout_plan, "chat": chat_plan, "connections": connections_plan}[scenario]
        results, title = [], scenario
        for name in args.targets.split(","):
            target = {
                "hutch": lambda: start_hutch("hutch", False),
                "hutch-rabbitmq": lambda: start_hutch("hutch-rabbitmq", True),
                "webstomp": start_webstomp,
            }[name]()
            try:
                plan = make_plan(target, args)
                title = plan.title
                results.append(run(target, plan, args))
            finally:
                target.stop()
        print_table(title, results, args)
        if args.json:
            save(args.json, scenario, title, args.rate, results)
        failed = failed or any(r.lost or r.duplicated or r.errors for r in results)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
