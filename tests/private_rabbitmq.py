"""RabbitMQ nodes of a test's own (one, or a cluster): own node names, ports and data
directories, removed after.

Fault tests stop and start RabbitMQ; they must never touch the machine's shared node. This
starts RabbitMQ's own scripts (not the packaged wrappers, which run as the rabbitmq user and
drop the environment) as the current user, with a cookie, config and plugins of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hub_server import free_port

SCRIPTS = Path("/usr/lib/rabbitmq/bin")  # Debian's rabbitmq-server package


@dataclass
class PrivateRabbitMQ:
    node: str
    url: str
    environment: dict[str, str]
    base: Path  # its data and logs

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """rabbitmqctl against this node only."""
        command = [str(SCRIPTS / "rabbitmqctl"), "-n", self.node, *args]
        return subprocess.run(
            command, env=self.environment, check=True, capture_output=True, text=True, timeout=timeout
        ).stdout


START_TRIES = 3  # a port picked free can be taken before the node binds it: then it exits


def _wait_started(rabbit: PrivateRabbitMQ, process: subprocess.Popen[bytes], last_try: bool) -> bool:
    """True once the node is up; False if it exited and may be started again."""
    deadline = time.monotonic() + 90
    while True:
        try:
            rabbit.ctl("await_startup", "--timeout", "10", timeout=30)
            return True
        except subprocess.CalledProcessError:  # not up far enough to answer yet
            exited = process.poll() is not None
            if exited and not last_try:
                return False
            if exited or time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in (rabbit.base / "log").glob("*.log"))
                raise RuntimeError(f"the private RabbitMQ node did not start:\n{logs}") from None
            time.sleep(0.5)


@contextlib.contextmanager
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    with rabbitmq_cluster(1) as [rabbit]:
        yield rabbit


@contextlib.contextmanager
def rabbitmq_cluster(size: int = 3) -> Iterator[list[PrivateRabbitMQ]]:
    """`size` private nodes on loopback, joined into one cluster (one shared Erlang cookie),
    each with its own name, ports and data directory; all stopped and removed after."""
    assert (SCRIPTS / "rabbitmq-server").exists(), "RabbitMQ is needed (the CI set-up installs it)"
    base = Path(tempfile.mkdtemp(prefix="hutch-rabbitmq-"))
    home = base / "home"
    home.mkdir()
    cookie = home / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex)
    cookie.chmod(0o400)
    cluster = f"hutch-test-{uuid.uuid4().hex[:8]}"
    started = [_start(base / f"{n}-1", f"{cluster}-{n}-1@localhost", home) for n in range(1, size + 1)]
    try:
        for n, (rabbit, process) in enumerate(started):
            tries = 1
            while not _wait_started(rabbit, process, last_try=tries == START_TRIES):
                tries += 1
                name = f"{n + 1}-{tries}"
                rabbit, process = started[n] = _start(base / name, f"{cluster}-{name}@localhost", home)
        first = started[0][0]
        for rabbit, _ in started[1:]:
            rabbit.ctl("stop_app")
            rabbit.ctl("join_cluster", first.node)
            rabbit.ctl("start_app")
        yield [rabbit for rabbit, _ in started]
    finally:
        for rabbit, process in started:
            _stop(rabbit, process)
        shutil.rmtree(base, ignore_errors=True)


def _start(base: Path, node: str, home: Path) -> tuple[PrivateRabbitMQ, subprocess.Popen[bytes]]:
    base.mkdir()
    port = free_port()
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n")
    (base / "rabbitmq-env.conf").write_text("")
    environment = os.environ | {
        "HOME": str(home),  # the cluster's Erlang cookie
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),  # not the machine's
    }
    (base / "log").mkdir()
    with open(base / "log" / "console.log", "wb") as console:  # why it stopped, if it does at start
        process = subprocess.Popen(
            [str(SCRIPTS / "rabbitmq-server")],
            env=environment,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return PrivateRabbitMQ(node, f"amqp://guest:guest@127.0.0.1:{port}/", environment, base), process


def _stop(rabbit: PrivateRabbitMQ, process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(Exception):
        rabbit.ctl("stop", timeout=60)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(10)
