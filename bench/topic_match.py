"""How long the hub takes to match one topic binding against one routing key, worst cases included.

    python -m bench.topic_match [--repeat 200]

The matcher serves both the embedded broker and every node's fan-out, for keys and patterns
that clients choose: its time must grow with their length, never faster. Printed: the
median time of a few hostile shapes (hundreds of '#' against a 2,000-word key) beside an
ordinary chat key.
"""

from __future__ import annotations

import argparse
import statistics
import time

from hutch.hub.broker.routing import topic_matches

match = topic_matches.__wrapped__  # the matcher itself, not its cache of answers

CASES = [
    ("chat key", "c1.*", "c1.messages"),
    ("500 '#' then z, 2,000-word key", "#." * 500 + "z", ".".join(["w"] * 2000)),
    ("'#.a' x 120, 250-word key", ".".join(["#", "a"] * 120), ".".join(["a", "b"] * 125)),
    ("'*' x 1,000, 1,000-word key", ".".join(["*"] * 1000), ".".join(["w"] * 1000)),
]


def median_us(pattern: str, key: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        match(pattern, key)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    for name, pattern, key in CASES:
        print(f"{name:<34} {median_us(pattern, key, args.repeat):>10.1f} µs per match")


if __name__ == "__main__":
    main()
