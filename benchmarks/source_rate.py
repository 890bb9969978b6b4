"""Throughput and drops of the streaming runtime against the source's frame rate, with a plot.

    python benchmarks/source_rate.py [--bundle DIR] [--seconds 6] [--rounds 2]
        [--json OUT.json] [--plot docs/img/source_rate.png]

What ``edge-sdk run --source 'synthetic://?fps=R'`` does with default settings (thread budget,
hand-off policy, imaging region ``auto``), for R = 15, 30, 60, 90 fps and unpaced: the probe
simulator renders 800×600 frames in the capture thread, as a scanner's grabber would deliver
them. The rates take turns ``--rounds`` times (each turn ``--seconds`` of frames) on one
pipeline, so a shared machine's drift lands on every rate alike; a rate's figures add up its
turns. Unpaced (``fps=0``) is lossless (``block``): its rate is what the runtime sustains.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk import Pipeline
from edge_sdk.bundle import default_bundle_path
from edge_sdk.sources import source_from_uri
from edge_sdk.streaming import StreamRunner

RATES = (15, 30, 60, 90, 0)
"""Source frame rates measured; 0 = unpaced."""


def run_rate(pipeline: Pipeline, rate: int, seconds: float) -> dict[str, Any]:
    frames = int(rate * seconds) if rate else int(60 * seconds)
    uri = f"synthetic://?fps={rate}&size=800x600&seed=0" + ("" if rate else f"&frames={frames}")
    with StreamRunner(pipeline, source_from_uri(uri), region="auto", max_frames=frames) as runner:
        latencies = [item.latency_ms for item in runner]
    stats = runner.stats
    return {"captured": stats.captured, "processed": stats.processed,
            "dropped_in_runtime": stats.dropped_in_runtime,
            "dropped_at_source": stats.dropped_at_source, "fps": stats.fps,
            "latency_p50_ms": float(np.median(latencies)) if latencies else None}


def measure(bundle: Path, seconds: float, rounds: int) -> dict[str, Any]:
    turns: dict[int, list[dict[str, Any]]] = {rate: [] for rate in RATES}
    with Pipeline(bundle) as pipeline:
        run_rate(pipeline, 30, 1.0)  # warm-up, not recorded
        for _ in range(rounds):
            for rate in RATES:
                turns[rate].append(run_rate(pipeline, rate, seconds))
        budget = pipeline.thread_budget.describe()
    rows = {}
    for rate, runs in turns.items():
        captured = sum(r["captured"] for r in runs)
        dropped = sum(r["dropped_in_runtime"] for r in runs)
        rows[str(rate)] = {
            "captured": captured, "processed": sum(r["processed"] for r in runs),
            "dropped_in_runtime": dropped, "dropped_percent": 100.0 * dropped / max(1, captured),
            "fps": float(np.median([r["fps"] for r in runs])),
            "latency_p50_ms": float(np.median([r["latency_p50_ms"] for r in runs
                                               if r["latency_p50_ms"] is not None])),
            "turns": runs}
    return {"thread_budget": budget, "seconds_per_turn": seconds, "rounds": rounds,
            "rates": rows}


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r}" if r else "unpaced" for r in RATES]
    rows = [report["rates"][str(r)] for r in RATES]
    x = np.arange(len(RATES))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.bar(x - 0.2, [r["fps"] for r in rows], 0.4, label="results per second", color="#3b75af")
    ax.plot(x[:-1], RATES[:-1], "k--", lw=1, label="source rate")
    ax.set_xticks(x, labels)
    ax.set_xlabel("source frame rate (fps)")
    ax.set_ylabel("results per second")
    drops = ax.twinx()
    drops.bar(x + 0.2, [r["dropped_percent"] for r in rows], 0.4, color="#d62728",
              label="dropped in the runtime (%)")
    drops.set_ylabel("dropped in the runtime (%)")
    drops.set_ylim(0, 100)
    handles = ax.get_legend_handles_labels()[0] + drops.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    ax.set_title(f"Shipped bundle, default settings ({report['thread_budget'].split(' (')[0]})",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()
    report = measure(args.bundle or default_bundle_path(), args.seconds, args.rounds)
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"threads: {report['thread_budget']}; load average before {load_before[0]:.1f}, "
          f"after {report['load_average']['after'][0]:.1f}")
    print("| source fps | captured | processed | dropped in runtime | results/s | latency p50 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rate in RATES:
        r = report["rates"][str(rate)]
        print(f"| {rate or 'unpaced'} | {r['captured']} | {r['processed']} | "
              f"{r['dropped_in_runtime']} ({r['dropped_percent']:.1f} %) | {r['fps']:.1f} | "
              f"{r['latency_p50_ms']:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
