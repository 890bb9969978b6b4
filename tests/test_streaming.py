"""The streaming runtime against real sources and the tiny real ONNX bundle."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge_sdk.errors import ConfigError, SourceDisconnected, SourceError
from edge_sdk.imaging_region import ImagingRegion
from edge_sdk.pipeline import Pipeline
from edge_sdk.sources import FrameSource, ProbeSimulator, PushSource, RawFrame, SyntheticSource
from edge_sdk.streaming import HandoffPolicy, StreamRunner
from tests.interrupt import interruptible


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from edge_sdk.testing import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path_factory.mktemp("bundle"))
    with Pipeline(bundle, backend_options={"threads": 1}) as pipe:
        yield pipe


def accounted(stats) -> bool:
    return stats.captured == (stats.processed + stats.failed + stats.dropped_in_runtime
                              + stats.discarded_at_stop)


def runtime_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("edge-sdk-")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("latest", HandoffPolicy("latest", 1)), ("block", HandoffPolicy("block", 2)),
     ("queue(4)", HandoffPolicy("queue", 4)), (" Queue(1) ", HandoffPolicy("queue", 1)),
     ("queue(0)", ConfigError), ("newest", ConfigError)],
)
def test_policy_table(text, expected):
    if expected is ConfigError:
        with pytest.raises(ConfigError, match="expected one of"):
            HandoffPolicy.parse(text)
    else:
        assert HandoffPolicy.parse(text) == expected


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [("latest", [4], 4), ("queue(2)", [3, 4], 3), ("queue(8)", [0, 1, 2, 3, 4], 0)],
)
def test_handoff_keeps_the_newest_and_counts_the_rest(policy, kept, dropped):
    from edge_sdk.streaming.handoff import Handoff

    handoff = Handoff(HandoffPolicy.parse(policy))
    stop = threading.Event()
    for i in range(5):
        assert handoff.put(i, stop)
    got = []
    while (item := handoff.get(0.0)) is not None:
        got.append(item)
    assert got == kept and handoff.dropped == dropped


def test_block_handoff_waits_for_room_and_gives_up_on_stop():
    from edge_sdk.streaming.handoff import Handoff

    handoff, stop = Handoff(HandoffPolicy.parse("block")), threading.Event()
    assert handoff.put(0, stop) and handoff.put(1, stop)
    stop.set()
    assert handoff.put(2, stop) is False and handoff.dropped == 0
    assert handoff.drain() == 2


def test_default_policy_is_latest_for_live_and_block_for_recorded(pipeline):
    assert StreamRunner(pipeline, SyntheticSource(fps=30)).policy.kind == "latest"
    assert StreamRunner(pipeline, SyntheticSource(fps=0)).policy.kind == "block"


def test_simulator_ground_truth_is_found_in_the_cropped_imaging_area(pipeline):
    source = SyntheticSource(fps=0, frames=12, size=(320, 240), seed=4, lesions=2)
    with StreamRunner(pipeline, source, region="auto") as runner:
        items = list(runner)
    assert runner.stats.processed == 12 and accounted(runner.stats)
    hits = total = 0
    for item in items:
        x0, y0, _, _ = item.result.imaging_region
        found = [(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0)
                 for b in (lesion.bbox for lesion in item.result.lesions)]
        for truth in item.info["truth"]["lesions"]:
            total += 1
            hits += any(iou(truth["bbox"], box) > 0.5 for box in found)
    assert hits / total >= 0.9


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def test_burned_in_text_never_reaches_the_results(pipeline):
    source = SyntheticSource(fps=0, frames=3, size=(320, 240))
    ui = source.simulator.ui
    with StreamRunner(pipeline, source, region="auto") as runner:
        items = list(runner)
    region = runner.regions.region_for(source.simulator.render(0)[0])
    assert region.apply(ui).max() == 0  # the UI layer is cropped or filled away entirely
    for item in items:
        x0, y0, x1, y1 = item.result.imaging_region
        assert item.image.shape == (y1 - y0, x1 - x0) == item.result.mask.shape


@pytest.mark.parametrize("doppler", [False, True])
def test_colour_overlays_are_flagged(pipeline, doppler):
    source = SyntheticSource(fps=0, frames=2, size=(320, 240), color=True, doppler=doppler)
    with StreamRunner(pipeline, source, region="auto") as runner:
        flags = [item.result.color_overlay for item in runner]
    assert flags == [doppler, doppler]


def test_slow_stage_latest_drops_and_counts_while_block_loses_none(pipeline, capsys):
    def slow(_segmented) -> None:
        time.sleep(0.02)

    counts = {}
    # (policy, source fps): fps 0 = a recorded source read as fast as it decodes; 100 = a live
    # probe whose frames come every 10 ms, twice as fast as the 20 ms stage
    for policy, fps in (("latest", 0), ("block", 0), ("latest", 100), ("queue(4)", 100)):
        source = SyntheticSource(fps=fps, size=(96, 64), lesions=1)
        with StreamRunner(pipeline, source, policy=policy, max_frames=60,
                          stage_hook=slow) as runner:
            indices = [item.frame_index for item in runner]
        stats = runner.stats
        counts[policy, fps] = stats.summary()
        assert accounted(stats) and stats.captured == 60
        assert len(indices) == stats.processed
        assert indices == sorted(indices)
        if policy != "block":
            assert stats.dropped_in_runtime > 0
    block = counts["block", 0]
    assert block["processed"] == 60 and block["dropped_in_runtime"] == 0
    assert counts["latest", 0]["processed"] < 60 / 2  # the grab outran a 20 ms stage by far
    with capsys.disabled():
        print("\n[slow stage 20 ms, 60 frames captured]")
        for (policy, fps), summary in counts.items():
            keys = ("captured", "processed", "dropped_at_source", "dropped_in_runtime")
            print(f"  {policy:>8} source fps {fps:>3}: " + ", ".join(f"{k} {summary[k]}" for k in keys))


def test_segmentation_and_classification_overlap(pipeline):
    spans: dict[str, list[tuple[float, float]]] = {"segment": [], "classify": []}

    def slow_segment(_segmented) -> None:
        start = time.monotonic()
        time.sleep(0.02)
        spans["segment"].append((start, time.monotonic()))

    class SlowSmoother:
        def update(self, result):
            start = time.monotonic()
            time.sleep(0.02)
            spans["classify"].append((start, time.monotonic()))
            return result

    source = SyntheticSource(fps=0, frames=8, size=(96, 64))
    with StreamRunner(pipeline, source, stage_hook=slow_segment, smoother=SlowSmoother()) as r:
        assert len(list(r)) == 8
    overlaps = sum(1 for a0, a1 in spans["segment"] for b0, b1 in spans["classify"]
                   if a0 < b1 and b0 < a1)
    assert overlaps >= 3


def test_stop_mid_stream_is_clean_and_fast(pipeline):
    before = len(runtime_threads())
    runner = StreamRunner(pipeline, SyntheticSource(fps=200, size=(96, 64)))
    with runner:
        for count, _ in enumerate(runner, 1):
            if count == 5:
                break
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert len(runtime_threads()) == before
    assert accounted(runner.stats) and not runner.source.is_open


def test_ctrl_c_in_the_consumer_stops_everything(pipeline):
    before = len(runtime_threads())
    with pytest.raises(KeyboardInterrupt):
        with StreamRunner(pipeline, SyntheticSource(fps=200, size=(96, 64))) as runner:
            for _ in runner:
                raise KeyboardInterrupt
    assert len(runtime_threads()) == before


def test_watchdog_reports_a_stalled_source_and_its_recovery(pipeline):
    source = PushSource()
    with StreamRunner(pipeline, source, stall_timeout=0.2) as runner:
        deadline = time.monotonic() + 3.0
        while not runner.stats.stalled and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.stats.stalled and runner.stats.stalls == 1
        source.push(np.full((64, 64), 180, np.uint8))
        next(iter(runner))
        assert not runner.stats.stalled
        source.end()
        assert list(runner) == []
    assert "STALLED" not in runner.stats.progress_line()


class FlakyCamera(FrameSource):
    """A capture device that unplugs after a few frames and refuses the first reconnections."""

    kind = "flaky"
    live = True
    reconnectable = True

    def __init__(self, frames_per_connection: int = 3, refusals: int = 2) -> None:
        super().__init__()
        self.per_connection, self.refusals = frames_per_connection, refusals
        self.opens = self.attempts = self._left = 0

    def _open(self) -> None:
        self.attempts += 1
        if self.opens and self.refusals:
            self.refusals -= 1
            raise SourceError("flaky: not there yet")
        self.opens += 1
        self._left = self.per_connection

    def _read(self, timeout):
        if self._left == 0:
            raise SourceDisconnected("flaky: unplugged")
        self._left -= 1
        return RawFrame(np.full((64, 64), 150, np.uint8))


def test_a_lost_live_source_is_reconnected_with_back_off(pipeline):
    before = len(runtime_threads())
    camera = FlakyCamera()
    with StreamRunner(pipeline, camera, max_frames=6, backoff=(0.01, 0.04)) as runner:
        items = list(runner)
    assert len(items) + runner.stats.dropped_in_runtime == 6
    assert runner.stats.reconnects == 1 and camera.attempts == 4  # 1 + 2 refused + 1 good
    assert len(runtime_threads()) == before


def test_a_lost_source_without_reconnect_ends_the_stream_with_an_error_counted(pipeline):
    with StreamRunner(pipeline, FlakyCamera(), reconnect=False) as runner:
        items = list(runner)
    assert len(items) + runner.stats.dropped_in_runtime == 3
    assert runner.stats.source_errors == 1 and "unplugged" in runner.stats.errors[0]
    assert accounted(runner.stats)


def test_frame_size_change_re_derives_the_imaging_region(pipeline):
    source = PushSource(capacity=10)
    small, large = ProbeSimulator((320, 240)), ProbeSimulator((400, 300))
    with StreamRunner(pipeline, source, region="auto", policy="block") as runner:
        for sim in (small, small, large):
            source.push(sim.render(0)[0])
        source.end()
        regions = [item.result.imaging_region for item in runner]
    assert runner.regions.detections == 2
    assert regions[0] == regions[1] != regions[2]


def test_bad_frames_are_counted_and_the_stream_goes_on(pipeline):
    source = PushSource(capacity=10)
    with StreamRunner(pipeline, source, policy="block") as runner:
        source.push(np.zeros((8, 8), np.uint8))  # too small for the pipeline
        source.push(np.full((64, 64), 170, np.uint8))
        source.end()
        items = list(runner)
    assert len(items) == 1 and runner.stats.failed == 1
    assert "8x8" in runner.stats.errors[0]


def test_a_fixed_region_that_does_not_fit_fails_the_frame_clearly(pipeline):
    source = SyntheticSource(fps=0, frames=1, size=(96, 64))
    with StreamRunner(pipeline, source, region=ImagingRegion((0, 0, 200, 200))) as runner:
        assert list(runner) == []
    assert runner.stats.failed == 1 and "lies outside the 64x96 frame" in runner.stats.errors[0]


def test_an_unexpected_error_in_a_stage_reaches_the_consumer(pipeline):
    class Broken:
        def update(self, result):
            raise RuntimeError("smoother bug")

    # one such frame is counted as failed; the same error on 10 frames in a row is a bug
    with pytest.raises(RuntimeError, match="smoother bug"):
        with StreamRunner(pipeline, SyntheticSource(fps=0, frames=30, size=(96, 64)),
                          smoother=Broken()) as runner:
            list(runner)
    stats = runner.stats  # frames already in a stage when it stopped may fail too
    assert stats.failed >= 10 and stats.processed == 0
    assert stats.captured == stats.failed + stats.dropped_in_runtime + stats.discarded_at_stop


def test_temporal_smoothing_in_the_stream_reports_lesions_after_k_frames(pipeline):
    from edge_sdk.tracking import TemporalSmoother

    source = SyntheticSource(fps=0, frames=4, size=(320, 240), lesions=2)
    smoother = TemporalSmoother(pipeline.params, min_frames=2)
    with StreamRunner(pipeline, source, region="auto", smoother=smoother) as runner:
        counts = [len(item.result.lesions) for item in runner]
    assert counts == [0, 2, 2, 2]


def test_pipeline_stream_accepts_a_uri(pipeline):
    with pipeline.stream("synthetic://?fps=0&frames=2&size=96x64") as runner:
        assert [item.frame_index for item in runner] == [0, 1]


# ---- the edge-sdk run command over sources (subprocesses, like a user) ---------------------------
def edge_sdk(*args: str, timeout: float = 120):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "edge_sdk", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_cli_synthetic_records_only_the_imaging_area(tiny_bundle_dir, tmp_path):
    import json

    import cv2

    video, jsonl = tmp_path / "out.mp4", tmp_path / "r.jsonl"
    out = edge_sdk("run", "--source", "synthetic://?fps=0&frames=12&size=320x240",
                   "--bundle", str(tiny_bundle_dir), "--save", str(video), "--jsonl", str(jsonl))
    assert out.returncode == 0, out.stderr
    assert "processed 12 frame(s), failed 0" in out.stderr
    assert " fps | latency p50 " in out.stderr  # the progress line
    summary = json.loads(out.stderr.split("summary: ", 1)[1].splitlines()[0])
    assert summary["captured"] == 12 and summary["dropped_in_runtime"] == 0
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    x0, y0, x1, y1 = rows[0]["imaging_region"]
    assert rows[0]["frame_hw"] == [y1 - y0, x1 - x0]
    capture = cv2.VideoCapture(str(video))
    ok, first = capture.read()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert ok and count == 12
    # the recording is the imaging area's size (mp4v rounds odd sides down): the text is cut off
    assert abs(first.shape[0] - (y1 - y0)) <= 1 and abs(first.shape[1] - (x1 - x0)) <= 1
    assert first.shape[0] < 240 * 0.9 and first.shape[1] < 320 * 0.9
    from edge_sdk.imaging_region import detect_imaging_region

    sim = ProbeSimulator((320, 240))
    region = detect_imaging_region(sim.render(0)[0])
    assert region.box == (x0, y0, x1, y1) and region.apply(sim.ui).max() == 0


def test_cli_dicom_cine_reports_physical_spacing(tiny_bundle_dir, tmp_path):
    import json

    pytest.importorskip("pydicom")
    from tests.sources.dicom_files import write_cine

    path, sim = write_cine(tmp_path / "cine.dcm", frames=3, size=(320, 240))
    jsonl = tmp_path / "r.jsonl"
    out = edge_sdk("run", "--source", f"dicom:{path}", "--bundle", str(tiny_bundle_dir),
                   "--jsonl", str(jsonl))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == 3
    assert all(r["spacing_mm"] == pytest.approx([0.2, 0.1]) for r in rows)
    assert all(r["imaging_region"] == list(sim.region_box) for r in rows)


def test_cli_ctrl_c_stops_with_a_summary(tiny_bundle_dir):
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "edge_sdk", "run", "--source",
                                "synthetic://?fps=30&size=320x240", "--bundle",
                                str(tiny_bundle_dir)], stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while " fps | " not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=20)[1]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "summary: " in rest and "interrupted" in rest


def test_a_finished_stream_releases_its_source_even_without_with(pipeline):
    before = len(runtime_threads())
    source = SyntheticSource(fps=0, frames=3, size=(96, 64))
    runner = StreamRunner(pipeline, source)
    assert len(list(runner)) == 3
    assert not source.is_open and len(runtime_threads()) == before
    assert list(runner) == [] and runner.stats.processed == 3  # a runner runs once


@pytest.mark.parametrize(
    ("source", "message"),
    [("push", "fed by your own code through the Python API"),
     ("webcam:0", "unknown source scheme 'webcam'"),
     ("synthetic://?fps=30&zoom=2", r"unknown parameter\(s\) \['zoom'\]"),
     ("igtl://127.0.0.1:1", "cannot connect to 127.0.0.1:1")],
)
def test_cli_bad_sources_are_one_line_errors(tiny_bundle_dir, source, message):
    import re

    out = edge_sdk("run", "--source", source, "--bundle", str(tiny_bundle_dir))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), out.stderr
