"""What leaves the device per frame: the imaging area's overlay, never the burned-in text."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.imaging_region import detect_imaging_region
from edge_sdk.pipeline import Pipeline
from edge_sdk.sources.synthetic import ProbeSimulator
from edge_sdk.streaming.stats import StreamResult
from edge_sdk.viewer.frames import FrameRenderer, frame_meta, pack_frame


def _item(pipeline: Pipeline, image: np.ndarray) -> StreamResult:
    return StreamResult(image=image, result=pipeline.process(image), frame_index=0, info={},
                        latency_ms=1.0)


def test_uncropped_run_shows_only_the_imaging_area(tiny_bundle_dir: Path) -> None:
    """A run told not to crop (region none) processed the whole screen; the viewer crops it
    with the runtime's detector, and the page's image is the same with or without the text."""
    simulator = ProbeSimulator(size=(400, 300), seed=2)
    screen, _ = simulator.render(0)
    assert simulator.ui.any() and screen[simulator.ui > 0].min() > 0  # text is burned in
    without_text = screen.copy()
    without_text[simulator.ui > 0] = 0
    renderer = FrameRenderer()
    with Pipeline(tiny_bundle_dir) as pipeline:
        result = pipeline.process(screen)  # imaging_region is None: nothing was cropped
        assert result.imaging_region is None
        shown = renderer.render(StreamResult(screen, result, 0, {}, 1.0))
        clean = renderer.render(StreamResult(without_text, result, 0, {}, 1.0))
    assert shown is not None and clean is not None
    decoded = cv2.imdecode(np.frombuffer(shown, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    x0, y0, x1, y1 = detect_imaging_region(screen).box
    assert decoded.shape[:2] == (y1 - y0, x1 - x0) != screen.shape[:2]
    assert shown == clean  # not one pixel of the text reached the JPEG


def test_no_imaging_area_is_withheld(tiny_bundle_dir: Path) -> None:
    blank = np.zeros((240, 320), np.uint8)
    with Pipeline(tiny_bundle_dir) as pipeline:
        assert FrameRenderer().render(_item(pipeline, blank)) is None


def test_large_frames_are_shrunk(stream_items: list[StreamResult]) -> None:
    item = stream_items[0]
    mask = cv2.resize(item.result.mask, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    big = StreamResult(cv2.resize(item.image, None, fx=4, fy=4),
                       item.result.replace(mask=mask, lesions=[]), 0, {}, 1.0)
    jpeg = FrameRenderer(max_side=500).render(big)
    assert jpeg is not None
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and max(decoded.shape[:2]) == 500


def test_meta_matches_the_jsonl_fields(stream_items: list[StreamResult]) -> None:
    item = next(i for i in stream_items if i.result.lesions)
    meta = frame_meta(item)
    line = item.result.to_dict()
    assert meta["frame_index"] == item.frame_index == line["frame_index"]
    assert meta["lesions"] == line["lesions"] and meta["latency_ms"] == line["latency_ms"]
    packed = pack_frame(meta, b"\xff\xd8jpeg")
    size = int.from_bytes(packed[:4], "big")
    assert json.loads(packed[4 : 4 + size]) == json.loads(json.dumps(meta))
    assert packed[4 + size :] == b"\xff\xd8jpeg"
