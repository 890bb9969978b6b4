"""Thread budgets side by side: sequential and streaming throughput of each, in one run.

    python benchmarks/thread_budget.py [--bundle DIR] [--frames 40] [--rounds 5] [--json OUT]

Every candidate budget gets its own pipeline (its own sessions); the candidates take turns,
``--rounds`` times: each turn runs ``--frames`` frames through ``Pipeline.process`` (sequential)
and then ``2 × --frames`` through the streaming runtime, on the same in-memory frames replayed
unpaced and lossless. A candidate's figures are medians over its turns, so that a shared
machine's drift lands on every candidate alike. The default of
:func:`edge_sdk.thread_budget.thread_budget` is the candidate this measured best.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from edge_sdk import Pipeline
from edge_sdk.bench.measure import ReplaySource, load_frames
from edge_sdk.bundle import default_bundle_path
from edge_sdk.streaming import StreamRunner
from edge_sdk.thread_budget import StageThreads, ThreadBudget, thread_budget, usable_cores


def candidates(cores: int) -> dict[str, ThreadBudget]:
    """The budgets compared: the old default (every stage every core, spinning pools), the
    ways of sharing the cores out, and today's default (:func:`thread_budget`), marked."""
    every, rest = StageThreads(cores), StageThreads(max(1, cores - 1))
    shares = {
        f"{cores}+{cores}": (every, every),
        f"{cores}+{max(1, cores // 2)}": (every, StageThreads(max(1, cores // 2))),
        f"{cores}+1": (every, StageThreads(1)),
        f"{max(1, cores - 1)}+1": (rest, StageThreads(1)),
        "1+1": (StageThreads(1), StageThreads(1)),
    }  # on 2 cores some coincide ("2+1" is the halving, "1+1" the n-1 split): one entry each
    default = thread_budget(cores=cores)
    out = {f"{cores}+{cores} spinning (old default)": ThreadBudget(
        cores, StageThreads(cores, True), StageThreads(cores, True), "old")}
    for name, (seg, cls) in shares.items():
        is_default = (seg, cls) == (default.segmenter, default.classifier)
        out[name + (" (default)" if is_default else "")] = ThreadBudget(cores, seg, cls,
                                                                        "candidate")
        if name == f"{cores}+1":
            out[f"{cores}+1 spinning segmenter"] = ThreadBudget(
                cores, StageThreads(cores, True), StageThreads(1), "candidate")
    return out


def measure(bundle: Path, frames: list[np.ndarray], count: int, rounds: int,
            only: list[str] | None = None) -> dict[str, dict]:
    budgets = {name: budget for name, budget in candidates(usable_cores()).items()
               if not only or any(name.startswith(o) for o in only)}
    pipelines = {name: Pipeline(bundle, threads=b) for name, b in budgets.items()}
    out: dict[str, dict] = {n: {"sequential_fps": [], "streaming_fps": [], "segment_p50_ms": [],
                                "classify_p50_ms": []} for n in budgets}
    try:
        for _ in range(rounds):
            for name, pipeline in pipelines.items():
                for frame in frames[:3]:  # warm caches after the other candidates ran
                    pipeline.process(frame)
                start, stages = time.perf_counter(), []
                for i in range(count):
                    stages.append(pipeline.process(frames[i % len(frames)]).latency_ms)
                row = out[name]
                row["sequential_fps"].append(count / (time.perf_counter() - start))
                row["segment_p50_ms"].append(float(np.median([s.segment for s in stages])))
                row["classify_p50_ms"].append(float(np.median([s.classify for s in stages])))
                with StreamRunner(pipeline, ReplaySource(frames, 2 * count), policy="block") as runner:
                    for _result in runner:
                        pass
                row["streaming_fps"].append(runner.stats.fps)
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    return {name: {**{k: float(np.median(v)) for k, v in row.items()},
                   "streaming_over_sequential": float(np.median(
                       np.array(row["streaming_fps"]) / np.array(row["sequential_fps"]))),
                   "rounds": row}
            for name, row in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--source", default="synthetic://?fps=0&size=800x600&seed=0")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", default=None,
                        help="comma-separated name prefixes of the budgets to run, e.g. 1+1,2+2")
    args = parser.parse_args()
    frames = load_frames(args.source, 30)
    load_before = os.getloadavg()
    results = measure(args.bundle or default_bundle_path(), frames, args.frames, args.rounds,
                      args.only.split(",") if args.only else None)
    print(f"{usable_cores()} usable cores, load average {load_before[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; {args.rounds} rounds of {args.frames} sequential + {2 * args.frames} streaming frames")
    print("| budget (segmenter+classifier threads) | sequential fps | streaming fps | "
          "streaming / sequential | segment p50 ms | classify p50 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['sequential_fps']:.1f} | {r['streaming_fps']:.1f} | "
              f"{r['streaming_over_sequential']:.2f} | {r['segment_p50_ms']:.1f} | "
              f"{r['classify_p50_ms']:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"load_average": {"before": load_before, "after": os.getloadavg()},
                                         "results": results},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
