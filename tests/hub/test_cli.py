"""The `hutch` command as a new user meets it: help that says the truth, plain refusals."""

import os
import socket
import subprocess
import sys
from pathlib import Path

HUTCH = str(Path(sys.executable).with_name("hutch"))


def hutch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    return subprocess.run([HUTCH, *args], capture_output=True, text=True, timeout=60, env=clean | (env or {}))


def test_help_says_dev_mode_is_off_and_names_the_push_settings() -> None:
    assert "default off" in hutch("serve", "--help").stdout
    push = hutch("push-bridge", "--help").stdout
    assert "HUTCH_FCM_*" in push and "HUTCH_APNS_*" in push


def test_a_taken_stomp_port_is_said_plainly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = hutch("serve", "--port", "0", "--tcp-port", str(port))
    assert result.returncode != 0
    assert f"cannot serve STOMP on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_on_rabbitmq_without_redis_refuses_to_start() -> None:
    result = hutch("worker", env={"HUTCH_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"})
    assert result.returncode != 0 and "HUTCH_REDIS_URL" in result.stderr


def test_a_wrong_setting_is_named_without_a_traceback() -> None:
    result = hutch("serve", "--port", "0", env={"HUTCH_STORE_LINGER": "-1"})
    assert result.returncode != 0
    assert "HUTCH_STORE_LINGER: Input should be greater than or equal to 0" in result.stderr
    assert "Traceback" not in result.stderr
    result = hutch("worker", env={"HUTCH_STORE_LINGER": "2"})
    assert (
        result.returncode != 0 and "hutch worker: HUTCH_STORE_LINGER: Input should be less" in result.stderr
    )
