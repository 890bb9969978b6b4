"""Throughput and drops of the streaming runtime against the source's frame rate, with a plot.

    python benchmarks/source_rate.py [--bundle DIR] [--seconds 6] [--rounds 2]
        [--compare-old] [--json OUT.json] [--plot docs/img/source-rate.png]

What ``edge-sdk run --source 'synthetic://?fps=R'`` does with default settings (thread budget,
hand-off policy, imaging region ``auto``), for R = 15, 30, 60, 90 fps and unpaced: the probe
simulator renders 800×600 frames in the capture thread, as a scanner's grabber would deliver
them. The rates take turns ``--rounds`` times (each turn ``--seconds`` of frames), so a shared
machine's drift lands on every rate alike; a rate's figures add up its turns. With
``--compare-old`` a second pipeline with the old default (every core, spinning pools) takes its
turn after each, and the plot shows both. Unpaced (``fps=0``) is lossless (``block``): its rate is what the runtime sustains.
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
from edge_sdk.thread_budget import StageThreads, ThreadBudget, thread_budget, usable_cores

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


def budgets(compare_old: bool) -> dict[str, ThreadBudget]:
    cores = usable_cores()
    out = {"default": thread_budget()}
    if compare_old:  # what the pipeline did before the budget: every core, spinning pools
        old = StageThreads(cores, spinning=True)
        out["old default"] = ThreadBudget(cores, old, old, "old default")
    return out


def measure(bundle: Path, seconds: float, rounds: int, compare_old: bool) -> dict[str, Any]:
    pipelines = {name: Pipeline(bundle, threads=b) for name, b in budgets(compare_old).items()}
    turns: dict[str, dict[int, list[dict[str, Any]]]] = {
        name: {rate: [] for rate in RATES} for name in pipelines}
    try:
        for pipeline in pipelines.values():
            run_rate(pipeline, 30, 1.0)  # warm-up, not recorded
        for _ in range(rounds):
            for rate in RATES:
                for name, pipeline in pipelines.items():  # budgets take turns at each rate
                    turns[name][rate].append(run_rate(pipeline, rate, seconds))
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    series = {}
    for name, by_rate in turns.items():
        rows = {}
        for rate, runs in by_rate.items():
            captured = sum(r["captured"] for r in runs)
            dropped = sum(r["dropped_in_runtime"] for r in runs)
            rows[str(rate)] = {
                "captured": captured, "processed": sum(r["processed"] for r in runs),
                "dropped_in_runtime": dropped,
                "dropped_percent": 100.0 * dropped / max(1, captured),
                "fps": float(np.median([r["fps"] for r in runs])),
                "latency_p50_ms": float(np.median([r["latency_p50_ms"] for r in runs
                                                   if r["latency_p50_ms"] is not None])),
                "turns": runs}
        series[name] = {"thread_budget": pipelines[name].thread_budget.describe(), "rates": rows}
    return {"seconds_per_turn": seconds, "rounds": rounds, "series": series}


def _short(budget: str) -> str:
    """``segmenter 2 threads, classifier 2 threads, no spinning (…)`` → ``2+2 threads, no
    spinning``."""
    words = budget.split(" (")[0].split(", ")
    threads = "+".join(part.split()[1] for part in words[:2])
    return f"{threads} threads, {'no spinning' if 'no spinning' in words else 'spinning pools'}"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r}" if r else "unpaced" for r in RATES]
    x = np.arange(len(RATES))
    series = report["series"]
    width = 0.8 / len(series)
    fig, (fps_ax, drop_ax) = plt.subplots(1, 2, figsize=(9.0, 3.6), dpi=110)
    for i, (name, data) in enumerate(series.items()):
        rows = [data["rates"][str(r)] for r in RATES]
        offset = (i - (len(series) - 1) / 2) * width
        label = f"{name}: {_short(data['thread_budget'])}"
        fps_ax.bar(x + offset, [r["fps"] for r in rows], width, label=label)
        drop_ax.bar(x + offset, [r["dropped_percent"] for r in rows], width, label=label)
    fps_ax.plot(x[:-1], RATES[:-1], "k--", lw=1, label="source rate")
    for ax, ylabel in ((fps_ax, "results per second"), (drop_ax, "dropped in the runtime (%)")):
        ax.set_xticks(x, labels)
        ax.set_xlabel("source frame rate (fps)")
        ax.set_ylabel(ylabel)
    drop_ax.set_ylim(0, 100)
    handles, names = fps_ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    load = report["load_average"]
    fig.suptitle(f"Shipped bundle, edge-sdk run's settings, 2 cores shared with other work "
                 f"(load average {load['before'][0]:.0f} → {load['after'][0]:.0f})", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
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
    parser.add_argument("--replot", type=Path, default=None,
                        help="draw --plot from this JSON report instead of measuring")
    parser.add_argument("--compare-old", action="store_true",
                        help="also run the old default (every core, spinning pools), taking turns")
    args = parser.parse_args()
    if args.replot is not None and args.plot is not None:
        plot(json.loads(args.replot.read_text(encoding="utf-8")), args.plot)
        return 0
    load_before = os.getloadavg()
    report = measure(args.bundle or default_bundle_path(), args.seconds, args.rounds,
                     args.compare_old)
    report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before {load_before[0]:.1f}, after {report['load_average']['after'][0]:.1f}")
    print("| threads | source fps | captured | processed | dropped in runtime | results/s | "
          "latency p50 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, data in report["series"].items():
        for rate in RATES:
            r = data["rates"][str(rate)]
            print(f"| {name}: {data['thread_budget']} | {rate or 'unpaced'} | {r['captured']} | "
                  f"{r['processed']} | {r['dropped_in_runtime']} ({r['dropped_percent']:.1f} %) | "
                  f"{r['fps']:.1f} | {r['latency_p50_ms']:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
