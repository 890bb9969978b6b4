"""The measurements: interleaved sequential timing, streaming throughput, accuracy."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.bench.variants import Variant
from edge_sdk.errors import EdgeSDKError
from edge_sdk.pipeline import Pipeline
from edge_sdk.results import StageLatency
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame


@dataclass
class VariantRun:
    """Everything measured for one variant."""

    variant: Variant
    latencies: list[StageLatency] = field(default_factory=list)
    backend_ms: list[float] = field(default_factory=list)
    lesions: list[int] = field(default_factory=list)
    gpu_split_ms: list[dict[str, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    streaming_fps: float | None = None
    streaming_dropped: int | None = None
    accuracy: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    bundle_digest: str = ""


def load_frames(source: str, count: int) -> list[np.ndarray]:
    """Read ``count`` frames from a source URI or path into memory (so every variant sees the
    same pixels and no variant pays for decoding)."""
    from edge_sdk.sources import source_from_uri

    frames: list[np.ndarray] = []
    with source_from_uri(source) as opened:
        for frame in opened:
            frames.append(frame.pixels.copy())
            if len(frames) >= count:
                break
    if not frames:
        from edge_sdk.errors import ConfigError

        raise ConfigError(f"the benchmark source {source!r} gave no frames")
    while len(frames) < count:  # a short file: cycle through it
        frames.append(frames[len(frames) % max(1, len(frames))])
    return frames


class ReplaySource(FrameSource):
    """Frames held in memory, delivered in a loop: a source that costs the CPU nothing, so the
    streaming runtime is measured on the same frames as the sequential loop.

    Args:
        frames: The frames to replay.
        count: Frames to deliver in all (cycling through ``frames``).
        fps: Pace to this rate; 0 or None delivers as fast as read.
    """

    kind = "replay"

    def __init__(self, frames: Sequence[np.ndarray], count: int, fps: float | None = None) -> None:
        super().__init__(fps=fps)
        self.frames, self.count, self._next = list(frames), count, 0

    def describe(self) -> str:
        return f"replay source ({len(self.frames)} frames, {self.fps or 'unpaced'} fps)"

    def _open(self) -> None:
        self._next = 0

    def _read(self, timeout: float | None) -> RawFrame | None:
        if self._next >= self.count:
            raise EndOfStream
        pixels = self.frames[self._next % len(self.frames)]
        self._next += 1
        return RawFrame(pixels)


def open_pipeline(variant: Variant) -> Pipeline:
    """Open a variant's pipeline; a failure names the variant (all open before any timing)."""
    try:
        return Pipeline(variant.bundle, backend=variant.backend,  # type: ignore[arg-type]
                        backend_options=dict(variant.options))
    except EdgeSDKError as exc:
        raise type(exc)(f"variant {variant.name} ({variant.bundle}): {exc}. Fix: leave it out "
                        "of --compare or point it at another bundle") from exc


def _notes(pipeline: Pipeline) -> list[str]:
    notes = []
    for role in ("segmenter", "classifier"):
        net = getattr(pipeline, role)
        spec = pipeline.bundle.manifest.models[role]
        note = f"{role} {spec.precision}"
        if hasattr(net, "inference_precision"):
            # the precision hint covers float ops only; a Q/DQ graph's quantized ops run int8
            note += f" (OpenVINO float ops in {net.inference_precision})"
        if getattr(net, "providers", None):
            note += f" on {','.join(net.providers)}"
        notes.append(note)
    return notes


def interleaved(variants: Sequence[Variant], frames: Sequence[np.ndarray], warmup: int,
                progress: Callable[[int, int], None] | None = None) -> list[VariantRun]:
    """Run every frame through every variant in turn (A B C A B C …) so that drift of a shared
    machine lands on all variants alike. Warm-up frames are run and not recorded."""
    pipelines: list[Pipeline] = []
    try:
        for variant in variants:
            pipelines.append(open_pipeline(variant))
    except BaseException:
        for pipeline in pipelines:
            pipeline.close()
        raise
    runs = [VariantRun(v, notes=_notes(p), bundle_digest=p.bundle.digest)
            for v, p in zip(variants, pipelines)]
    try:
        total = warmup + len(frames)
        for i in range(total):
            frame = frames[(i - warmup) % len(frames)] if i >= warmup else frames[i % len(frames)]
            for pipeline, run in zip(pipelines, runs):
                before = pipeline.segmenter.total_latency_ms + pipeline.classifier.total_latency_ms
                cpu0, wall0 = time.process_time(), time.perf_counter()
                result = pipeline.process(frame)
                cpu1, wall1 = time.process_time(), time.perf_counter()
                if i < warmup:
                    continue
                after = pipeline.segmenter.total_latency_ms + pipeline.classifier.total_latency_ms
                run.latencies.append(result.latency_ms)
                run.backend_ms.append(after - before)
                run.lesions.append(len(result.lesions))
                run.cpu_seconds += cpu1 - cpu0
                run.wall_seconds += wall1 - wall0
                split = getattr(pipeline.segmenter, "last_split_ms", None)
                if split:
                    run.gpu_split_ms.append(dict(split))
            if progress:
                progress(i + 1, total)
    finally:
        for pipeline in pipelines:
            pipeline.close()
    return runs


def streaming_fps(variants: Sequence[Variant], frames: Sequence[np.ndarray], count: int,
                  rounds: int = 3) -> list[tuple[float, int]]:
    """Throughput of the streaming runtime (capture, segment and classify overlapping) on the
    benchmark's own frames, replayed unpaced and lossless (``block``): results per second and
    frames dropped, per variant.

    The variants take turns, ``rounds`` times ``count / rounds`` frames each, so that drift of a
    shared machine lands on all of them alike; a variant's rate is the median of its rounds.
    """
    from edge_sdk.streaming import StreamRunner

    per_round = max(2, -(-count // max(1, rounds)))
    pipelines: list[Pipeline] = []
    try:
        for variant in variants:
            pipelines.append(open_pipeline(variant))
        rates: list[list[float]] = [[] for _ in variants]
        dropped = [0 for _ in variants]
        for _ in range(max(1, rounds)):
            for i, pipeline in enumerate(pipelines):
                with StreamRunner(pipeline, ReplaySource(frames, per_round), policy="block") as runner:
                    for _result in runner:
                        pass
                rates[i].append(runner.stats.fps)
                dropped[i] += runner.stats.dropped
    finally:
        for pipeline in pipelines:
            pipeline.close()
    return [(float(np.median(r)), d) for r, d in zip(rates, dropped)]


def accuracy(variant: Variant, data: Path, split: str) -> dict[str, Any]:
    from edge_sdk.dataset import load_samples
    from edge_sdk.evaluate import evaluate

    with open_pipeline(variant) as pipeline:
        report = evaluate(pipeline, load_samples(data, split), progress=sys.stderr.isatty())
    return {k: report[k] for k in ("dice", "iou", "auc", "sensitivity", "specificity",
                                   "normal_fp_rate")}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
