"""Soak test: many frames through ``edge-sdk run``, its resident memory sampled as they flow.

Runs the real command line in a child process (the code path a scanner integration runs),
reads its once-a-second progress lines (frames processed so far) and samples the child's RSS
from ``/proc/<pid>/status`` beside each one. Reports RSS growth per 1,000 and per 10,000 frames
after a warm-up (least-squares slope, and the plain first-to-last difference), and checks the
frame accounting of the final summary: captured = processed + failed + dropped + discarded.

Usage::

    python benchmarks/soak.py --frames 50000 --json soak.json
    python benchmarks/soak.py --frames 2000 --warmup 500 -- --threads 2   # extra run options

Linux only (``/proc``). Exit code 1 when accounting fails or growth exceeds ``--max-growth``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_PROGRESS = re.compile(r"captured (\d+) processed (\d+)")


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process in MiB, ``None`` once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def slope_per_frame(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MiB) against frames processed."""
    n = len(points)
    if n < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx if sxx else float("nan")


def soak(frames: int, warmup: int, size: str, run_args: list[str]) -> dict[str, Any]:
    """Run the soak and return the report (samples, growth, accounting)."""
    command = [sys.executable, "-m", "edge_sdk", "run", "--source",
               f"synthetic://?fps=0&frames={frames}&size={size}", "--threads", "1", *run_args]
    start = time.monotonic()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             text=True)
    samples: list[tuple[int, float]] = []
    tail: list[str] = []
    assert child.stderr is not None
    for line in child.stderr:
        match = _PROGRESS.search(line)
        if match and "summary" not in line:
            rss = rss_mib(child.pid)
            if rss is not None:
                samples.append((int(match.group(2)), rss))
        else:
            tail.append(line.rstrip())
    rc = child.wait()
    samples = samples[:-1]  # the last line is printed after the pipeline closed (RSS falls)
    summary_lines = [line for line in tail if line.startswith("summary: ")]
    summary = json.loads(summary_lines[-1].split("summary: ", 1)[1]) if summary_lines else {}
    accounted = (summary.get("processed", 0) + summary.get("failed", 0)
                 + summary.get("dropped_in_runtime", 0) + summary.get("discarded_at_stop", 0))
    after = [(x, y) for x, y in samples if x >= warmup]
    slope = slope_per_frame(after)
    return {
        "command": command, "rc": rc, "frames": frames, "warmup_frames": warmup,
        "elapsed_s": round(time.monotonic() - start, 1), "summary": summary,
        "accounting_ok": bool(summary) and summary.get("captured") == accounted,
        "rss_start_mib": round(samples[0][1], 2) if samples else None,
        "rss_after_warmup_mib": round(after[0][1], 2) if after else None,
        "rss_end_mib": round(samples[-1][1], 2) if samples else None,
        "rss_max_mib": round(max(y for _, y in samples), 2) if samples else None,
        "growth_mib_per_1000_frames": round(slope * 1000, 4),
        "growth_mib_per_10000_frames": round(slope * 10000, 4),
        "growth_first_to_last_mib": round(after[-1][1] - after[0][1], 2) if after else None,
        "frames_after_warmup": (after[-1][0] - after[0][0]) if after else 0,
        "samples": samples,
        "stderr_tail": tail[-20:] if rc else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=2_000,
                        help="frames before the growth is measured (arenas, caches fill)")
    parser.add_argument("--size", default="800x600", help="simulator frame size WxH")
    parser.add_argument("--max-growth", type=float, default=1.0,
                        help="MiB per 10,000 frames above which the soak fails")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("run_args", nargs="*", help="extra 'edge-sdk run' options, after --")
    args = parser.parse_args(argv)
    report = soak(args.frames, args.warmup, args.size, args.run_args)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    brief = {k: v for k, v in report.items() if k not in ("samples", "command")}
    print(json.dumps(brief, indent=1))
    ok = (report["rc"] == 0 and report["accounting_ok"]
          and report["growth_mib_per_10000_frames"] < args.max_growth)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
