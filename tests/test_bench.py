"""The benchmark's quick mode runs end to end against every target (figures live in bench/, not here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_bench_quick_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout
    for target in ("hutch ", "hutch-rabbitmq", "webstomp"):
        assert target in table
    assert "Web-STOMP's" in table


def test_codec_bench_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "bench/codec.py", "--seconds", "0.05"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "pack (compiled)" in result.stdout and "packed msgpack" in result.stdout
