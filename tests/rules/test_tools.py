"""The command-line tools, and the JavaScript codec on the shared vectors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
HUTCH = str(Path(sys.executable).with_name("hutch"))


def hutch(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([HUTCH, *args], input=stdin, capture_output=True, timeout=60)


def test_rules_check_accepts_max_1_and_names_the_problem_of_a_bad_set(tmp_path: Path) -> None:
    good = hutch("rules", "check", str(ROOT / "rules" / "sets" / "max@1.json"))
    assert good.returncode == 0 and b"max@1, 10 fields, valid" in good.stdout
    bad = tmp_path / "bad@1.json"
    bad.write_text(
        json.dumps(
            {
                "name": "bad",
                "version": 1,
                "fields": {"a": {"id": "x", "type": "date"}, "b": {"id": "x", "type": "int"}},
            }
        )
    )
    refused = hutch("rules", "check", str(bad))
    assert refused.returncode == 1
    assert b"field 'b'" in refused.stderr and b"duplicate id 'x'" in refused.stderr


@pytest.mark.parametrize("form", ["packed-json", "packed-msgpack"])
def test_pack_then_unpack_on_stdin(form: str) -> None:
    message = {"action": "add", "object": "comment", "data": {"text": "ça"}, "extra": [1]}
    packed = hutch("rules", "pack", "--form", form, stdin=json.dumps(message).encode())
    assert packed.returncode == 0, packed.stderr
    if form == "packed-json":
        assert json.loads(packed.stdout) == {"a": "a", "o": "n", "d": {"text": "ça"}, "~": {"extra": [1]}}
    unpacked = hutch("rules", "unpack", "--form", form, stdin=packed.stdout)
    assert json.loads(unpacked.stdout) == message


def test_unpack_of_garbage_says_why() -> None:
    result = hutch("rules", "unpack", stdin=b'{"zz": 1}')
    assert result.returncode == 1 and b"no field with id 'zz'" in result.stderr


def test_the_javascript_codec_agrees_on_the_shared_vectors() -> None:
    node = shutil.which("node")
    if node is None and not os.environ.get("CI"):
        pytest.skip("node is not installed here")
    assert node is not None, "CI needs Node.js for the browser codec's tests"
    result = subprocess.run(
        [node, "--test", "clients/widget/tests/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_rules_check_takes_a_shipped_label_and_says_what_is_not_found() -> None:
    shipped = hutch("rules", "check", "max@1")
    assert shipped.returncode == 0 and b"max@1, 10 fields, valid" in shipped.stdout
    missing = hutch("rules", "check", "nope@1")
    assert missing.returncode == 1 and b"neither a rule-set file nor a shipped rule set" in missing.stderr
    assert b"Traceback" not in missing.stderr
