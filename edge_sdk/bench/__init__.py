"""``edge-sdk bench``: per-stage latency percentiles, side-by-side variants in one interleaved
run, streaming throughput, SDK overhead, the INT8 compute floor, and reports."""

from __future__ import annotations

import datetime
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk.bench.variants import VARIANTS, Variant, parse_compare

DEFAULT_SOURCE = "synthetic://?fps=0&size=800x600&seed=0"

__all__ = ["DEFAULT_SOURCE", "VARIANTS", "BenchOptions", "Variant", "parse_compare", "run_benchmark"]


@dataclass(frozen=True)
class BenchOptions:
    variants: Sequence[Variant]
    source: str = DEFAULT_SOURCE
    frames: int = 200
    warmup: int = 20
    threads: int | None = None
    streaming_frames: int | None = None
    data: Path | None = None
    split: str = "test"
    floor: bool = True
    command: str = ""


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty() or done == total:
        sys.stderr.write(f"\rbench: frame {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _floor(runs: Sequence[Any], threads: int | None) -> dict[str, Any] | None:
    from edge_sdk.backends.onnxruntime_backend import default_threads
    from edge_sdk.bench.floor import count_macs, floor_ms, int8_ops_per_second
    from edge_sdk.bundle import load_bundle
    from edge_sdk.errors import ConfigError

    # the same nets in every variant: count on the first bundle whose graphs shape inference can
    # follow (a QOperator file cannot be counted)
    errors = []
    for run in runs:
        bundle = load_bundle(run.variant.bundle)
        try:
            seg = count_macs(bundle.model_path("segmenter"))
            cls = count_macs(bundle.model_path("classifier"), batch=1)
            break
        except ConfigError as exc:
            errors.append(str(exc))
    else:
        return {"error": f"no variant's bundle could be counted: {errors[0]}"}
    lesions = sum(runs[0].lesions) / max(1, len(runs[0].lesions))
    macs = int(seg + cls * lesions)
    rate = int8_ops_per_second(threads or default_threads())
    floor = floor_ms(macs, rate)
    ratios = {r.variant.name: (sorted(l.total for l in r.latencies)[len(r.latencies) // 2] / floor)
              for r in runs if "int8" in r.variant.target}
    return {"macs": {"segmenter": seg, "classifier_per_crop": cls, "crops_per_frame": lesions},
            "counted_from": str(bundle.root),
            "macs_total": macs, "ops_per_second": rate, "floor_ms": floor,
            "p50_over_floor": ratios}


def run_benchmark(options: BenchOptions) -> tuple[dict[str, Any], list[Any]]:
    """Measure every variant on the same frames; returns the report dict and the raw runs."""
    from edge_sdk.bench import measure
    from edge_sdk.bench.env import environment
    from edge_sdk.bench.report import build_report

    frames = measure.load_frames(options.source, options.frames)
    runs = measure.interleaved(options.variants, frames, options.warmup, _progress)
    streaming_frames = (options.frames if options.streaming_frames is None
                        else options.streaming_frames)
    if streaming_frames > 1:
        rates = measure.streaming_fps(options.variants, frames, streaming_frames)
        for run, (fps, dropped) in zip(runs, rates):
            run.streaming_fps, run.streaming_dropped = fps, dropped
    for run in runs:
        if options.data is not None:
            run.accuracy = measure.accuracy(run.variant, options.data, options.split)
    floor = _floor(runs, options.threads) if options.floor else None
    env = environment(options.threads, {r.variant.name: r.bundle_digest for r in runs})
    meta = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": options.command, "source": options.source, "frames": options.frames,
            "warmup": options.warmup}
    return build_report(runs, env, meta, floor, measure.peak_rss_mb()), runs


def write_outputs(report: dict[str, Any], runs: list[Any], json_path: Path | None,
                  markdown_path: Path | None, plots_dir: Path | None) -> list[Path]:
    from edge_sdk.bench.report import markdown, plots

    written = []
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        written.append(json_path)
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(markdown(report), encoding="utf-8")
        written.append(markdown_path)
    if plots_dir:
        written += plots(report, runs, plots_dir)
    return written


def command_line(argv: Sequence[str]) -> str:
    return "edge-sdk " + " ".join(shlex.quote(a) for a in argv)
