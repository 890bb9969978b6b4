"""Serving load test: K simulated probes at 30 fps, in-process and through Triton, one run.

Each probe is a thread that grabs a frame every 1/fps s (the simulator's frames, 640x480) and
keeps one request in flight, like a scanner with the ``latest`` hand-off: a tick that finds the
previous frame still in flight is a drop, and the next request carries the newest frame. Latency
is grab to result (queueing included). For every K the modes run back to back, so the numbers of
one K share the machine's load:

- ``inproc``: each probe runs its own in-process ``Pipeline`` (the embedded SDK).
- ``1i``: one server instance, no dynamic batching (the baseline of the batching target).
- ``2i``: two instances, no dynamic batching.
- ``2i+db``: two instances with dynamic batching.
- ``repo``: ``edge-sdk export-triton``'s python repository on the plain ``tritonserver``
  (``edge-sdk serve --repository``): the pipeline runs inside Triton's python stub, two
  instances with dynamic batching, its nets one instance each, called through BLS.

Every server is ``edge-sdk serve`` in a process of its own, started once before the
measurements and stopped after them; the clients use ``--protocol`` (gRPC by default). Bounded
in time: ``--seconds`` per measurement; every request has a deadline. Run it from the serving
environment (docs/SERVING.md)::

    .serve-venv/bin/python benchmarks/serving_load.py --probes 1,4,8,16 --seconds 8 --json out.json

Each mode's seconds per K are split into ``--rounds`` windows, and the modes take turns window
by window (the order rotated each round), so that a change of the machine's load falls on all
modes alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.bundle import default_bundle_path, load_bundle
from edge_sdk.errors import EdgeSDKError
from edge_sdk.pipeline import Pipeline
from edge_sdk.serving import Client
from edge_sdk.serving.repository import export_repository
from edge_sdk.sources import source_from_uri

SERVERS = {  # mode -> edge-sdk serve options
    "1i": ["--instances", "1", "--threads", "1", "--no-dynamic-batching"],
    "2i": ["--instances", "2", "--threads", "1", "--no-dynamic-batching"],
    "2i+db": ["--instances", "2", "--threads", "1", "--max-batch-size", "8",
              "--max-queue-delay-us", "1000"],
    # the python variant of export-triton on the plain tritonserver (no PyTriton hop): the
    # pipeline model (2 instances, dynamic batching) calls the two nets' models through BLS
    "repo": ["--repository", "{repository}"],
}


@dataclass
class ProbeStats:
    latencies_ms: list[float] = field(default_factory=list)
    outside_ms: list[float] = field(default_factory=list)  # grab-to-result minus the pipeline
    ticks: int = 0
    drops: int = 0
    errors: int = 0


def probe_loop(process: Any, frames: list[np.ndarray], fps: float, start: float, n_ticks: int,
               stats: ProbeStats) -> None:
    """Grab on a fixed 1/fps clock; one frame in flight; frames overtaken while it is are drops."""
    period, tick = 1.0 / fps, 0
    while tick < n_ticks:
        grab = start + tick * period
        now = time.monotonic()
        if grab > now:
            time.sleep(grab - now)
        try:
            result = process(frames[tick % len(frames)])
            latency = (time.monotonic() - grab) * 1000.0
            stats.latencies_ms.append(latency)
            stats.outside_ms.append(latency - result.latency_ms.total)
        except EdgeSDKError:
            stats.errors += 1
        # latest-frame hand-off: the newest frame grabbed while this one was in flight goes
        # next (its latency counts from its grab); the ones grabbed before it are drops
        newest = min(int((time.monotonic() - start) / period), n_ticks)
        if newest > tick + 1:
            stats.drops += newest - tick - 1
            tick = newest
        else:
            tick += 1
    stats.ticks = n_ticks


@dataclass
class Window:
    """One measurement window: the probes' stats and the window's length."""

    stats: list[ProbeStats]
    seconds: float
    triton: dict[str, float] = field(default_factory=dict)  # metric deltas over the window


TRITON_METRICS = ("nv_inference_request_success", "nv_inference_exec_count",
                  "nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us")


def triton_metrics(url: str | None) -> dict[str, float]:
    """The model's counters from Triton's Prometheus endpoint (none for in-process)."""
    if url is None:
        return {}
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in TRITON_METRICS and 'model="edge_sdk_pipeline"' in line:
            values[name] = float(line.rsplit(" ", 1)[1])
    return values


def measure(make: Any, probes: int, frames: list[np.ndarray], fps: float,
            seconds: float, metrics_url: str | None = None) -> Window:
    """Run ``probes`` probe threads, each with ``make()``'s process function, for ``seconds``."""
    processes = [make() for _ in range(probes)]
    for process in processes:  # warm up: first-call allocations, connections
        process(frames[0])
    stats = [ProbeStats() for _ in range(probes)]
    start = time.monotonic() + 0.2
    n_ticks = int(seconds * fps)
    threads = [threading.Thread(target=probe_loop, args=(p, frames, fps,
                                                         start + i / (fps * probes), n_ticks, s))
               for i, (p, s) in enumerate(zip(processes, stats))]
    before = triton_metrics(metrics_url)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)  # a request has a 10 s deadline: a probe ends soon after
    window = Window(stats, time.monotonic() - start)
    after = triton_metrics(metrics_url)
    window.triton = {k: after[k] - before.get(k, 0.0) for k in after}
    return window


def summarize(mode: str, probes: int, fps: float, windows: list[Window]) -> dict[str, Any]:
    """One row from the windows of one mode (several rounds, interleaved with other modes)."""
    stats = [s for w in windows for s in w.stats]
    latencies = np.array([v for s in stats for v in s.latencies_ms])
    outside = np.array([v for s in stats for v in s.outside_ms])
    ticks = sum(s.ticks for s in stats)
    drops = sum(s.drops for s in stats)

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if values.size else None

    triton = {k: sum(w.triton.get(k, 0.0) for w in windows) for k in TRITON_METRICS}
    requests = triton["nv_inference_request_success"]
    server = {} if not requests else {
        # Triton's own account: requests per model execution (the dynamic batches), and the
        # time a request waited in the queue and spent in the model
        "batch_mean": round(requests / max(triton["nv_inference_exec_count"], 1.0), 2),
        "queue_ms_per_request": round(triton["nv_inference_queue_duration_us"] / requests / 1e3, 2),
        "compute_ms_per_request": round(
            triton["nv_inference_compute_infer_duration_us"] / requests / 1e3, 2),
    }
    return {
        "mode": mode, "probes": probes, "results": int(latencies.size),
        "throughput_fps": round(latencies.size / max(sum(w.seconds for w in windows), 1e-9), 2),
        "offered_fps": round(probes * fps, 1),
        "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
        # time outside the pipeline's own stages: waiting for the grab slot, queueing,
        # transport and Triton (for a server); the part a server adds to one frame
        "outside_p50_ms": pct(outside, 50),
        "drops": drops, "drop_pct": round(100.0 * drops / max(ticks, 1), 1),
        "errors": sum(s.errors for s in stats), **server,
    }


def in_process(bundle: Any) -> Any:
    """One probe's own embedded pipeline (one inference thread)."""
    return Pipeline(bundle, backend_options={"threads": 1}).process


def remote(url: str) -> Any:
    """One probe's own client of a server."""
    return Client(url, timeout_s=10.0).process


class ServerProcess:
    """``edge-sdk serve`` in its own session (a stop ends its tritonserver too)."""

    def __init__(self, options: list[str], base_port: int, bundle: Path, log: Path) -> None:
        self.http, self.grpc, self.metrics = base_port, base_port + 1, base_port + 2
        for port in (self.http, self.grpc, self.metrics):
            with socket.socket() as sock:  # a server left on a port would answer in our stead
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise SystemExit(f"port {port} is in use; pick another --base-port")
        self.args = [sys.executable, "-m", "edge_sdk", "serve", "--bundle", str(bundle),
                     "--http-port", str(self.http), "--grpc-port", str(self.grpc),
                     "--metrics-port", str(self.metrics), *options]
        with open(log, "wb") as handle:
            self.process = subprocess.Popen(self.args, stdout=handle, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics}/metrics"

    def url(self, protocol: str) -> str:
        return f"{protocol}://127.0.0.1:{self.http if protocol == 'http' else self.grpc}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="default: the shipped bundle")
    parser.add_argument("--probes", default="1,4,8,16")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="per mode and K")
    parser.add_argument("--rounds", type=int, default=2,
                        help="split each mode's seconds into this many windows, interleaved")
    parser.add_argument("--modes", default="inproc,1i,2i,2i+db,repo")
    parser.add_argument("--protocol", choices=("http", "grpc"), default="grpc")
    parser.add_argument("--base-port", type=int, default=18500)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args(argv)
    # a SIGTERM (timeout, a CI runner) must still stop the servers in the finally below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    bundle_path = args.bundle or default_bundle_path()
    bundle = load_bundle(bundle_path)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    source = source_from_uri("synthetic://?fps=0&size=640x480&seed=11&lesions=2").open()
    frames = [source.read(timeout=5).pixels for _ in range(30)]
    source.close()

    servers: dict[str, ServerProcess] = {}
    results: list[dict[str, Any]] = []
    try:
        repository = args.log_dir / "serving_load_repository"
        if "repo" in modes:
            export_repository(bundle, repository, instances=2, threads=1)
        for i, mode in enumerate(m for m in modes if m != "inproc"):
            options = [o.format(repository=repository / "python") for o in SERVERS[mode]]
            servers[mode] = ServerProcess(options, args.base_port + 10 * i, bundle_path,
                                          args.log_dir / f"serving_load_{mode}.log")
        for mode, server in servers.items():
            info = Client(server.url(args.protocol)).wait_ready(300)
            print(f"server {mode}: ready, bundle digest {info.bundle_digest[:12]}", flush=True)
        for probes in [int(k) for k in args.probes.split(",")]:
            windows: dict[str, list[Window]] = {mode: [] for mode in modes}
            for round_ in range(args.rounds):  # interleaved, the order rotated every round
                for mode in modes[round_ % len(modes):] + modes[:round_ % len(modes)]:
                    make = (partial(in_process, bundle) if mode == "inproc"
                            else partial(remote, servers[mode].url(args.protocol)))
                    metrics = None if mode == "inproc" else servers[mode].metrics_url
                    windows[mode].append(measure(make, probes, frames, args.fps,
                                                 args.seconds / args.rounds, metrics))
            for mode in modes:
                row = summarize(mode, probes, args.fps, windows[mode])
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for server in servers.values():
            server.stop()

    report = {
        "bundle": bundle.manifest.name, "bundle_digest": bundle.digest,
        "fps": args.fps, "seconds": args.seconds, "rounds": args.rounds,
        "protocol": args.protocol,
        "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
        "servers": {m: " ".join(SERVERS[m]) for m in servers}, "results": results,
    }
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| probes | mode | throughput (fps) | offered | p50 ms | p99 ms | outside p50 ms "
             "| drops | errors | batch | queue ms | model ms |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['probes']} | {r['mode']} | {r['throughput_fps']} | {r['offered_fps']} "
                     f"| {r['p50_ms']} | {r['p99_ms']} | {r['outside_p50_ms']} "
                     f"| {r['drops']} ({r['drop_pct']} %) "
                     f"| {r['errors']} | {r.get('batch_mean', '')} "
                     f"| {r.get('queue_ms_per_request', '')} | {r.get('compute_ms_per_request', '')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
