"""Benchmark reports: the JSON document, a terminal table, Markdown and PNG plots.

JSON schema ``edge-sdk-bench/1`` (top level = the baseline, i.e. the first variant):

- ``stages.<stage>.{min,mean,p50,p90,p95,p99,max,std}`` — per-stage latency in ms, stages
  ``preprocess, segment, postprocess, crop, classify, total``;
- ``throughput_fps.{sequential,streaming}`` — sequential: 1000 / mean total latency; streaming:
  the streaming runtime's results per second on the same frames replayed unpaced and lossless,
  the variants taking turns (``null`` when not run);
- ``sdk_overhead.{p50_ms,fraction}`` — total pipeline time minus the raw backend calls;
- ``cpu_percent`` (process CPU time / wall time × 100), ``peak_rss_mb``, ``gpu_split_ms``
  (TensorRT: mean ``h2d``/``compute``/``d2h``), ``accuracy`` (with ``--data``), ``notes``;
- ``env`` — machine, threads and the thread budget, load average, packages, bundle digests, Jetson facts (``unknown`` elsewhere);
- ``noise_warning`` — set when the spread says the machine was noisy;
- ``int8_floor`` — MACs of each net (``counted_from``: the bundle whose graphs were counted),
  measured int8 ops/s, the floor in ms and p50 / floor; or ``{"error": why}`` when no variant's
  graphs could be counted (QOperator files only);
- ``variants[]`` — every variant with the fields above plus ``ratio_to_baseline``
  (``p50`` and ``p99``: baseline ÷ variant, so 4.0 means 4× faster; ``fps``: variant ÷ baseline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.bench.measure import VariantRun
from edge_sdk.results import STAGES
from edge_sdk.timing import describe

SCHEMA = "edge-sdk-bench/1"
STACKED = ("preprocess", "segment", "postprocess", "crop", "classify")


def noise_warning(total_ms: Sequence[float]) -> str | None:
    """A warning when the total latency's spread says the machine was busy with other work."""
    stats = describe(total_ms)
    if not total_ms or not math.isfinite(stats["p50"]):
        return None
    if stats["p99"] > 3.0 * stats["p50"] or stats["std"] > 0.25 * stats["mean"]:
        return (f"noisy run: p99 {stats['p99']:.1f} ms vs p50 {stats['p50']:.1f} ms, std "
                f"{stats['std']:.1f} ms; other work shared the machine — compare ratios from one "
                "interleaved run, not absolute numbers across runs")
    return None


def variant_summary(run: VariantRun) -> dict[str, Any]:
    stages = {s: describe([getattr(l, s) for l in run.latencies]) for s in STAGES}
    totals = [l.total for l in run.latencies]
    overhead = [t - b for t, b in zip(totals, run.backend_ms)]
    mean_total = stages["total"]["mean"]
    split = ({k: float(np.mean([s[k] for s in run.gpu_split_ms])) for k in run.gpu_split_ms[0]}
             if run.gpu_split_ms else None)
    return {
        "name": run.variant.name,
        "backend": run.variant.backend,
        "target": run.variant.target,
        "options": dict(run.variant.options),
        "bundle": str(run.variant.bundle),
        "bundle_digest": run.bundle_digest,
        "notes": run.notes,
        "frames": len(run.latencies),
        "stages": stages,
        "throughput_fps": {
            "sequential": 1000.0 / mean_total if mean_total > 0 else None,
            "streaming": run.streaming_fps,
        },
        "streaming_dropped": run.streaming_dropped,
        "sdk_overhead": {
            "p50_ms": float(np.percentile(overhead, 50)) if overhead else None,
            "fraction": (float(sum(overhead) / sum(totals)) if totals and sum(totals) > 0 else None),
        },
        "cpu_percent": 100.0 * run.cpu_seconds / run.wall_seconds if run.wall_seconds else None,
        "gpu_split_ms": split,
        "accuracy": run.accuracy,
        "noise_warning": noise_warning(totals),
    }


def build_report(runs: Sequence[VariantRun], env: dict[str, Any], meta: dict[str, Any],
                 floor: dict[str, Any] | None, peak_rss_mb: float) -> dict[str, Any]:
    summaries = [variant_summary(r) for r in runs]
    base = summaries[0]
    for s in summaries:
        s["ratio_to_baseline"] = {
            "p50": base["stages"]["total"]["p50"] / s["stages"]["total"]["p50"],
            "p99": base["stages"]["total"]["p99"] / s["stages"]["total"]["p99"],
            "fps": ((s["throughput_fps"]["sequential"] or 0) / base["throughput_fps"]["sequential"]
                    if base["throughput_fps"]["sequential"] else None),
        }
    report = {"schema": SCHEMA, **meta, "env": env, **{k: v for k, v in base.items()
                                                       if k not in ("name", "notes")},
              "baseline": base["name"], "peak_rss_mb": peak_rss_mb, "int8_floor": floor,
              "variants": summaries}
    return report


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "p50 ms", "p99 ms", "fps seq", "fps stream", "×p50", "×p99", "overhead"]
    with_acc = any(v["accuracy"] for v in report["variants"])
    if with_acc:
        header += ["Dice", "AUC"]
    rows = []
    for v in report["variants"]:
        row = [v["name"], _fmt(v["stages"]["total"]["p50"]), _fmt(v["stages"]["total"]["p99"]),
               _fmt(v["throughput_fps"]["sequential"], 1), _fmt(v["throughput_fps"]["streaming"], 1),
               _fmt(v["ratio_to_baseline"]["p50"]), _fmt(v["ratio_to_baseline"]["p99"]),
               _fmt(100 * v["sdk_overhead"]["fraction"], 1) + "%"
               if v["sdk_overhead"]["fraction"] is not None else "—"]
        if with_acc:
            acc = v["accuracy"] or {}
            row += [_fmt(acc.get("dice"), 3), _fmt(acc.get("auc"), 3)]
        rows.append(row)
    return header, rows


def terminal_table(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append(f"baseline: {report['baseline']} (×: baseline ÷ variant, higher is faster); "
               f"{report['frames']} frames after {report['warmup']} warm-up, interleaved")
    floor = report.get("int8_floor")
    if floor and "error" in floor:
        out.append(f"int8 floor: not computed ({floor['error']})")
    elif floor:
        out.append(f"int8 floor: {floor['floor_ms']:.2f} ms ({floor['macs_total'] / 1e9:.2f} GMAC at "
                   f"{floor['ops_per_second'] / 1e9:.0f} GOPS measured)")
    warnings = [v["noise_warning"] for v in report["variants"] if v["noise_warning"]]
    out += [f"WARNING {w}" for w in warnings[:1]]
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    env = report["env"]
    lines = [f"# Benchmark: {', '.join(v['name'] for v in report['variants'])}", "",
             f"- command: `{report['command']}`",
             f"- machine: {env['cpu']['model']}, {env['cpu']['usable_cores']} usable cores, "
             f"{env['threads']} threads; GPU: {env['gpus']}",
             "- packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
             f"- frames: {report['frames']} after {report['warmup']} warm-up, source "
             f"`{report['source']}`, variants interleaved", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Per-stage p50 / p99 (ms):", "",
              "| variant | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    for v in report["variants"]:
        cells = [f"{_fmt(v['stages'][s]['p50'])} / {_fmt(v['stages'][s]['p99'])}" for s in STAGES]
        lines.append(f"| {v['name']} | " + " | ".join(cells) + " |")
    floor = report.get("int8_floor")
    if floor and "error" in floor:
        lines += ["", f"INT8 compute floor: not computed ({floor['error']})."]
    elif floor:
        lines += ["", f"INT8 compute floor: {floor['floor_ms']:.2f} ms = 2 × "
                  f"{floor['macs_total'] / 1e9:.2f} GMAC ÷ {floor['ops_per_second'] / 1e9:.0f} GOPS "
                  "(int8 rate measured here with ONNX Runtime's u8s8 convolution)."]
    for v in report["variants"]:
        if v["noise_warning"]:
            lines += ["", f"> {v['name']}: {v['noise_warning']}"]
    lines += ["", "Notes: " + "; ".join(f"{v['name']}: " + ", ".join(v["notes"])
                                         for v in report["variants"])]
    return "\n".join(lines) + "\n"


def plots(report: dict[str, Any], runs: Sequence[VariantRun], folder: Path) -> list[Path]:
    """Latency CDF per variant and stacked per-stage bars (matplotlib, the ``bench`` extra)."""
    from edge_sdk._optional import import_optional

    matplotlib = import_optional("matplotlib", "bench", "Benchmark plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    cdf_path, bars_path = folder / "latency_cdf.png", folder / "stages.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        totals = np.sort([l.total for l in run.latencies])
        ax.plot(totals, np.arange(1, len(totals) + 1) / len(totals), label=run.variant.name)
    ax.set_xlabel("end-to-end latency per frame (ms)")
    ax.set_ylabel("fraction of frames")
    ax.set_title("Latency CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(cdf_path, dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [v["name"] for v in report["variants"]]
    bottom = np.zeros(len(names))
    for stage in STACKED:
        values = np.array([v["stages"][stage]["mean"] for v in report["variants"]])
        ax.bar(names, values, bottom=bottom, label=stage)
        bottom += values
    ax.set_ylabel("mean latency (ms)")
    ax.set_title("Per-stage latency")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(bars_path, dpi=120)
    plt.close(fig)
    return [cdf_path, bars_path]
