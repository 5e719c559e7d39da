"""Codec benchmark: pack/unpack rates and packed sizes of the MAX envelope, one core.

    python bench/codec.py [--seconds 1.0]

Prints messages per second for the compiled codec against a naive walk of the
rule tree, for the packings against json/orjson/msgpack of the expanded form,
and the packed sizes as a share of plain JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
from hutch.rules import Form, codec_for, decode, encode

ENVELOPE = {
    "uuid": "6f1a0c2e9b3d4f5a8c7e1d2b3a4f5e6d",
    "user": {"username": "johndoe", "displayname": "John Doe"},
    "action": "add",
    "object": "message",
    "data": {"text": "Hello world!"},
    "source": "widget",
    "domain": "demo",
    "version": "4.0.1",
    "published": "2026-11-22T18:40:00Z",
    "destination": "c1a2b3",
}


def naive_pack(message: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """What MaxCarrot does: walk the rule tree for every field of every message."""
    out: dict[str, Any] = {}
    for key, value in message.items():
        rule = next((r for r in rules if r["name"] == key), None)
        if rule is None:
            continue
        if rule.get("values"):
            value = rule["values"].get(value, value)
        elif rule.get("fields") and isinstance(value, dict):
            value = {rule["fields"].get(k, k): v for k, v in value.items()}
        out[rule["id"]] = value
    return out


def rate(function: Callable[[], object], seconds: float) -> float:
    count, batch = 0, 10_000
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            function()
        count += batch
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    codec = codec_for("max@1")
    pack, unpack = codec.pack, codec.unpack
    packed = pack(ENVELOPE)
    rules = [
        {"name": r.name, "id": r.id, "values": r.values, "fields": r.fields} for r in codec.rule_set.fields
    ]
    plain = json.dumps(ENVELOPE, separators=(",", ":")).encode()
    packed_json = encode(ENVELOPE, Form.PACKED_JSON, "max@1")
    packed_msgpack = encode(ENVELOPE, Form.PACKED_MSGPACK, "max@1")
    s = args.seconds

    print(f"hutch codec, rule set max@1, one core, {s:g} s per figure\n")
    print(f"{'operation':44} {'messages/s':>12}")
    for name, function in [
        ("pack (compiled)", lambda: pack(ENVELOPE)),
        ("unpack (compiled)", lambda: unpack(packed)),
        ("pack (naive walk of the rule tree)", lambda: naive_pack(ENVELOPE, rules)),
        ("encode packed JSON (pack + orjson)", lambda: encode(ENVELOPE, Form.PACKED_JSON, "max@1")),
        ("decode packed JSON (orjson + unpack)", lambda: decode(packed_json, Form.PACKED_JSON, "max@1")),
        ("encode packed msgpack", lambda: encode(ENVELOPE, Form.PACKED_MSGPACK, "max@1")),
        ("decode packed msgpack", lambda: decode(packed_msgpack, Form.PACKED_MSGPACK, "max@1")),
        ("json.dumps, expanded", lambda: json.dumps(ENVELOPE)),
        ("orjson.dumps, expanded", lambda: orjson.dumps(ENVELOPE)),
        ("msgpack.packb, expanded", lambda: msgpack.packb(ENVELOPE)),
        ("json.loads, expanded", lambda: json.loads(plain)),
        ("orjson.loads, expanded", lambda: orjson.loads(plain)),
    ]:
        print(f"{name:44} {rate(function, s):>12,.0f}")

    print(f"\n{'form':44} {'bytes':>6} {'of plain JSON':>14}")
    for name, size in [
        ("plain JSON (expanded)", len(plain)),
        ("msgpack (expanded)", len(msgpack.packb(ENVELOPE))),
        ("packed JSON", len(packed_json)),
        ("packed msgpack", len(packed_msgpack)),
    ]:
        print(f"{name:44} {size:>6} {size / len(plain):>13.0%}")


if __name__ == "__main__":
    main()
