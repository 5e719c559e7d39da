"""Latency against load, from the results `python -m bench --rates ... --json FILE` saved.

python bench/plot.py bench/results/latency.json docs/latency.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(source: Path, target: Path) -> None:
    results = [r for r in json.loads(source.read_text()) if r["rate_per_publisher"] > 0]
    scenarios = sorted({r["scenario"] for r in results})
    figure, axes = plt.subplots(1, len(scenarios), figsize=(6.5 * len(scenarios), 4.2), squeeze=False)
    for axis, scenario in zip(axes[0], scenarios, strict=True):
        series: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            if r["scenario"] == scenario:
                series[r["target"]].append(r)
        for name, points in sorted(series.items()):
            points.sort(key=lambda r: r["deliveries_per_second"])
            loads = [r["deliveries_per_second"] for r in points]
            line = axis.plot(loads, [r["p99_ms"] for r in points], marker="o", label=f"{name} p99")[0]
            axis.plot(loads, [r["p50_ms"] for r in points], marker=".", linestyle="--", color=line.get_color(),
                      label=f"{name} p50")  # fmt: skip
        axis.set_title(next(r["title"] for r in results if r["scenario"] == scenario), fontsize=9)
        axis.set_xlabel("deliveries per second")
        axis.set_ylabel("latency (ms)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
