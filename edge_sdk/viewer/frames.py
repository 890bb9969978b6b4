"""What the page gets per frame: the overlay of the imaging area as JPEG, and its lesion list.

Only the imaging area ever leaves the device. The streaming runtime already crops each frame to
it before inference (``StreamResult.image``); when a run was told not to crop (``region=none``),
the viewer finds the area itself with the runtime's detector and withholds any frame where it
finds none, so burned-in patient text around the image never reaches a browser.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import cv2
import numpy as np

from edge_sdk.errors import FrameError
from edge_sdk.imaging_region import RegionSelector
from edge_sdk.overlay import draw_overlay
from edge_sdk.streaming.stats import StreamResult

MAX_SIDE = 960
"""Frames larger than this (longest side, pixels) are shrunk before encoding: a browser tile
rarely shows more, and a 1080p JPEG costs four times the encoding time."""


def frame_meta(item: StreamResult) -> dict[str, Any]:
    """The per-frame facts the page shows beside the image (JSON-ready).

    Lesion fields are those of the run's JSONL (``FrameResult.to_dict``), so the two can be
    compared frame by frame; ``tracking`` is the temporal smoother's state when it is on.
    """
    result = item.result
    meta: dict[str, Any] = {
        "frame_index": item.frame_index,
        "lesions": [lesion.to_dict() for lesion in result.lesions],
        "lesions_over_limit": result.lesions_over_limit,
        "malignancy": round(result.malignancy, 6),
        "latency_ms": result.latency_ms.to_dict(),
        "grab_to_result_ms": round(item.latency_ms, 3),
        "frame_hw": [int(v) for v in result.mask.shape],
        "color_overlay": result.color_overlay,
    }
    tracking = result.extras.get("tracking") if result.extras else None
    if tracking is not None:
        meta["tracking"] = tracking
    return meta


def pack_frame(meta: dict[str, Any], jpeg: bytes) -> bytes:
    """One WebSocket message: a 4-byte big-endian JSON length, the JSON, then the JPEG.

    One message, not two, so that an image can never be shown beside another frame's lesions.

    Example:
        >>> packed = pack_frame({"frame_index": 3}, b"JPEG")
        >>> size = int.from_bytes(packed[:4], "big"); packed[4:4 + size], packed[4 + size:]
        (b'{"frame_index":3}', b'JPEG')
    """
    text = json.dumps(meta, separators=(",", ":")).encode()
    return struct.pack(">I", len(text)) + text + jpeg


class FrameRenderer:
    """Draws a result on its imaging area and encodes it as JPEG (runs off the pipeline threads).

    Args:
        positive_class: The bundle's positive class name (drawn red; the other green).
        quality: JPEG quality, 1-100.
        max_side: Longest side of the encoded image; larger frames are shrunk.
    """

    def __init__(self, positive_class: str = "malignant", quality: int = 80,
                 max_side: int = MAX_SIDE) -> None:
        self.positive_class = positive_class
        self.params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
        self.max_side = max_side
        self._regions = RegionSelector("auto")

    def render(self, item: StreamResult) -> bytes | None:
        """JPEG bytes of the overlay, or ``None`` when no imaging area could be found."""
        canvas = draw_overlay(item.image, item.result, self.positive_class)
        if item.result.imaging_region is None:  # the run did not crop: the viewer must
            try:
                region = self._regions.region_for(item.image)
            except FrameError:
                return None
            if region is None or not region.fits(canvas.shape):
                return None
            canvas = region.apply(canvas)
        side = max(canvas.shape[:2])
        if side > self.max_side:
            scale = self.max_side / side
            canvas = cv2.resize(canvas, (max(1, round(canvas.shape[1] * scale)),
                                         max(1, round(canvas.shape[0] * scale))),
                                interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(canvas), self.params)
        return data.tobytes() if ok else None
