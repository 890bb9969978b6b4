"""Memory and time of the per-frame hot path: allocations per frame, RSS drift, and the
post-processing against the frame-resolution way it was done before.

    python benchmarks/hot_path.py [--bundle DIR] [--frames 300] [--json OUT]

- **Allocations per frame**: the peak of memory allocated and released while one frame runs
  through ``Pipeline.process`` (tracemalloc; NumPy's and the backends' output arrays are
  traced, ONNX Runtime's internal arena is not), median over the frames.
- **RSS drift**: resident memory after the warm-up and after ``--frames`` frames; a hot path
  that keeps nothing per frame stays flat.
- **Post-processing, now and before**, on the same segmenter maps, taking turns: regions on the
  net's map with frame pixels only inside each box (now) against resizing the whole map to the
  frame, thresholding and labelling it (before). Time and peak allocation of each.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import tracemalloc
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk import Pipeline
from edge_sdk.bench.measure import load_frames
from edge_sdk.bundle import default_bundle_path
from edge_sdk.roi import find_regions, find_regions_net, paint_mask


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_of(call: Any) -> tuple[float, int]:
    """(seconds, peak bytes allocated above the start) of one call."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    return seconds, tracemalloc.get_traced_memory()[1] - base


def before(prob: np.ndarray, frame_hw: tuple[int, int], threshold: float, min_area: int,
           keep: int) -> np.ndarray:
    """The frame-resolution post-processing the pipeline used before."""
    full = cv2.resize(prob, (frame_hw[1], frame_hw[0]), interpolation=cv2.INTER_LINEAR)
    labels, regions = find_regions(full, threshold, min_area)
    lut = np.zeros(int(labels.max()) + 1, np.uint8)
    for region in regions[:keep]:
        lut[region.label] = 1
    return lut[labels]


def now(prob: np.ndarray, frame_hw: tuple[int, int], threshold: float, min_area: int,
        keep: int) -> np.ndarray:
    return paint_mask(frame_hw, find_regions_net(prob, frame_hw, threshold, min_area)[:keep])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--source", default="synthetic://?fps=0&size=800x600&seed=0")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    frames = load_frames(args.source, 30)
    report: dict[str, Any] = {"source": args.source, "frames": args.frames}
    with Pipeline(args.bundle or default_bundle_path()) as pipeline:
        for i in range(args.warmup):
            pipeline.process(frames[i % len(frames)])
        rss_start = rss_mb()
        tracemalloc.start()
        peaks = []
        for i in range(args.frames):
            peaks.append(_peak_of(lambda i=i: pipeline.process(frames[i % len(frames)]))[1])
        tracemalloc.stop()
        report["process_peak_alloc_kb_p50"] = float(np.median(peaks)) / 1024
        report["rss_mb"] = {"after_warmup": rss_start, "after_frames": rss_mb()}

        params = pipeline.params
        maps = [pipeline._segment(pipeline._segmenter_input(f)).copy() for f in frames]
        hw = frames[0].shape[:2]
        min_area = max(1, math.ceil(params.min_lesion_area_fraction * hw[0] * hw[1]))
        ways = {"before (frame resolution)": before, "now (net resolution)": now}
        times: dict[str, list[float]] = {k: [] for k in ways}
        allocs: dict[str, list[int]] = {k: [] for k in ways}
        tracemalloc.start()
        for i in range(args.frames):
            for name, way in ways.items():  # taking turns: drift lands on both alike
                prob = maps[i % len(maps)]
                seconds, peak = _peak_of(lambda w=way, p=prob: w(
                    p, hw, params.segmentation_threshold, min_area, params.max_lesions))
                times[name].append(seconds * 1000)
                allocs[name].append(peak)
        tracemalloc.stop()
        report["postprocess"] = {name: {"p50_ms": float(np.median(times[name])),
                                        "peak_alloc_kb_p50": float(np.median(allocs[name])) / 1024}
                                 for name in ways}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
