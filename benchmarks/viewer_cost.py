"""What the live viewer costs the pipeline: fps and per-stage latency with and without --view.

    python benchmarks/viewer_cost.py [--frames 600] [--rounds 3] [--json out.json]

Three modes, run in turn within each round (none, none+view, view+browser, none, ...), so that
a shared machine's drift lands on all of them alike:

- ``off``: ``edge-sdk run --source synthetic://?fps=0&frames=N`` (the unpaced simulator, the
  shipped bundle, default settings);
- ``view``: the same with ``--view 127.0.0.1:0`` and no browser attached;
- ``browser``: the same with one headless Chromium (Debian's, driven by Playwright) watching
  the page. The browser runs on the same machine as the pipeline, so its own drawing takes CPU
  from it too: a laptop's browser would not.

Every frame is processed (``--policy block``). Each run's fps and stage p50 are computed over
its second half (by result order): the browser attaches within a few seconds of the start, and
the first half holds the model warm-up.

On a shared machine wall-clock fps swings with the other loads; CPU time swings much less. So
the table also gives the run's CPU time per frame (its process: pipeline, capture and, with
--view, the viewer's threads), Chromium's CPU time per frame watched (all its processes), and
their sum against the run without the viewer: what the pipeline would lose on a machine whose
cores it saturates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("segment", "classify", "postprocess", "total")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium_cpu_s() -> float:
    """CPU seconds (user + system) of every Chromium process alive now (only this script runs
    Chromium while it measures)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)
            if "chromium" not in fields[0]:
                continue
            values = fields[1].split()
            total += (int(values[11]) + int(values[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def _run(mode: str, frames: int, workdir: Path, playwright: Any) -> dict[str, Any]:
    jsonl = workdir / f"{mode}.jsonl"
    cmd = [sys.executable, "-m", "edge_sdk", "run", "--source",
           f"synthetic://?fps=0&frames={frames}&seed=0", "--policy", "block", "--jsonl", str(jsonl)]
    if mode != "off":
        cmd += ["--view", "127.0.0.1:0"]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    url = threading.Event()
    found: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            match = re.match(r"viewer: (http://\S+)", line)
            if match:
                found.append(match.group(1))
                url.set()
        url.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    browser = page = None
    attached_at = None
    if mode == "browser":
        url.wait(120)
        browser = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1400, "height": 1000})
        page = browser.new_page()
        page.goto(found[0])
        while proc.poll() is None:
            index = page.evaluate("window.edgeView.frameIndex")
            if index is not None:
                attached_at = int(index)
                break
            time.sleep(0.1)
    browser_cpu_before = _chromium_cpu_s() if browser is not None else 0.0
    code = proc.wait()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_cpu_s = (children.ru_utime - children_before.ru_utime
                 + children.ru_stime - children_before.ru_stime)
    browser_cpu_s = _chromium_cpu_s() - browser_cpu_before if browser is not None else 0.0
    reader.join(5)
    shown = page.evaluate("window.edgeView.framesReceived") if page is not None else 0
    if browser is not None:
        browser.close()
    if code != 0:
        raise SystemExit(f"{mode}: edge-sdk run exited {code}:\n{''.join(lines[-20:])}")
    summary = json.loads(next(x for x in lines if x.startswith("summary: "))[len("summary: "):])
    results = [json.loads(x) for x in jsonl.read_text().splitlines()]
    half = results[len(results) // 2 :]
    if attached_at is not None and attached_at > results[len(results) // 2]["frame_index"]:
        print(f"warning: the browser attached at frame {attached_at}, after the measured "
              "half began; use more --frames", file=sys.stderr)
    stamps = [r["timestamp"] for r in half]
    fps = (len(half) - 1) / (stamps[-1] - stamps[0])
    return {"mode": mode, "fps": fps, "processed": summary["processed"],
            "run_cpu_ms_per_frame": 1000 * run_cpu_s / summary["processed"],
            "browser_cpu_s": browser_cpu_s,
            "browser_cpu_ms_per_frame": (1000 * browser_cpu_s / max(
                1, results[-1]["frame_index"] - attached_at) if attached_at is not None else 0.0),
            "dropped_in_runtime": summary["dropped_in_runtime"],
            "p50": {s: float(np.median([r["latency_ms"][s] for r in half])) for s in STAGES},
            "browser_frames": shown, "browser_attached_at_frame": attached_at,
            "view_frames_encoded": summary.get("view_frames_encoded"),
            "view_cpu_share": (summary["view_cpu_s"] / summary["elapsed_s"]
                               if "view_cpu_s" in summary else None),
            "view_cpu_ms_per_frame_sent": (1000 * summary["view_cpu_s"] / summary[
                "view_frames_encoded"] if summary.get("view_frames_encoded") else None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        for round_index in range(args.rounds):
            for mode in ("off", "view", "browser"):
                run = _run(mode, args.frames, Path(tmp), playwright)
                run["round"] = round_index
                runs.append(run)
                print(f"round {round_index} {mode:8s} {run['fps']:6.2f} fps  "
                      + "  ".join(f"{s} {run['p50'][s]:.2f}" for s in STAGES), file=sys.stderr)
    table = ["| mode | fps | vs off | run CPU ms/frame | browser CPU ms/frame | CPU vs off | "
             + " | ".join(f"{s} p50 ms" for s in STAGES)
             + " | viewer threads' CPU: % of a core, ms per frame sent | frames shown in the "
             "browser |", "|---|---|---|---|---|---|" + "---|" * len(STAGES) + "---|---|"]
    off = [r for r in runs if r["mode"] == "off"]
    base = float(np.median([r["fps"] for r in off]))
    base_cpu = float(np.median([r["run_cpu_ms_per_frame"] for r in off]))
    for mode in ("off", "view", "browser"):
        mine = [r for r in runs if r["mode"] == mode]
        fps = float(np.median([r["fps"] for r in mine]))
        cpu = float(np.median([r["run_cpu_ms_per_frame"] for r in mine]))
        browser_cpu = float(np.median([r["browser_cpu_ms_per_frame"] for r in mine]))
        cells = [f"{np.median([r['p50'][s] for r in mine]):.2f}" for s in STAGES]
        shares = [r["view_cpu_share"] for r in mine if r["view_cpu_share"] is not None]
        sent = [r["view_cpu_ms_per_frame_sent"] for r in mine
                if r["view_cpu_ms_per_frame_sent"] is not None]
        share = f"{100 * float(np.median(shares)):.1f} %" if shares else "–"
        share += f", {float(np.median(sent)):.1f} ms" if sent else ""
        shown = ", ".join(str(r["browser_frames"]) for r in mine) if mode == "browser" else "–"
        table.append(f"| {mode} | {fps:.2f} | {100 * (fps / base - 1):+.1f} % | {cpu:.1f} | "
                     f"{browser_cpu:.1f} | {100 * ((cpu + browser_cpu) / base_cpu - 1):+.1f} % | "
                     + " | ".join(cells) + f" | {share} | {shown} |")
    print("\n".join(table))
    if args.json is not None:
        args.json.write_text(json.dumps({"frames": args.frames, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
