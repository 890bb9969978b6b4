"""What travels between the client and the server: one frame in, a :class:`FrameResult` out.

The server's model ``edge_sdk_pipeline`` takes ``frame`` (uint8, H×W×C with C = 1 or 3, any
size) and answers with the tensors of :data:`OUTPUTS`. The mask travels run-length encoded
(:func:`rle_encode`): row-major run lengths, alternating background and lesion, starting with
background. A 480×640 mask is 300 KiB raw but a few hundred runs (a run starts or ends only where
a row crosses a lesion's border), and an empty mask is no run at all; decoding is one
``np.repeat``, and the round trip is exact. Boxes, areas and scores travel in their in-process
types (int and float64), so the client rebuilds the very same :class:`FrameResult`. The ragged
outputs are padded to at least one row and ``counts`` gives their true lengths (PyTriton cannot
move a zero-size array).

A frame the pipeline refuses comes back as a normal response whose ``error`` holds
``"FrameError: <message>"``; the client raises that type again. One bad frame in a dynamic
batch never fails the other requests of the batch, nor the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from edge_sdk import errors
from edge_sdk.results import STAGES, FrameResult, Lesion, StageLatency

MODEL_NAME = "edge_sdk_pipeline"
"""The model a server serves and a client asks for."""

INPUT = "frame"

OUTPUTS: tuple[tuple[str, Any, tuple[int, ...]], ...] = (
    ("mask_rle", np.uint32, (-1,)),
    ("boxes", np.int32, (-1, 8)),          # bbox (x0, y0, x1, y1) then crop_box, per lesion
    ("areas", np.int64, (-1,)),
    ("scores", np.float64, (-1, 2)),       # seg_score, malignancy
    ("labels", np.bytes_, (-1,)),
    ("over_limit", np.int32, (1,)),
    ("latency_ms", np.float64, (len(STAGES),)),
    ("error", np.bytes_, (1,)),
    ("counts", np.int32, (2,)),            # mask runs, lesions: the ragged outputs' true lengths
)
"""Output name, dtype and per-request shape (without the batch dimension)."""

ERROR_TYPES: dict[str, type[errors.EdgeSDKError]] = {
    "FrameError": errors.FrameError,
    "BundleError": errors.BundleError,
    "BackendError": errors.BackendError,
    "ConfigError": errors.ConfigError,
    "ServingError": errors.ServingError,
    "EdgeSDKError": errors.EdgeSDKError,
}
"""Error type names a response may carry → the exception the client raises."""


def rle_encode(mask: np.ndarray) -> np.ndarray:
    """Run lengths of a 0/1 mask, row-major, starting with a (possibly empty) background run.

    Example:
        >>> rle_encode(np.array([[0, 1, 1], [1, 0, 0]], np.uint8)).tolist()
        [1, 3, 2]
    """
    flat = np.ascontiguousarray(mask).ravel()
    if flat.size and flat.max(initial=0) > 1:
        raise errors.ServingError(f"mask holds values up to {int(flat.max())}; expected 0/1")
    if not flat.any():
        return np.zeros(0, np.uint32)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype(np.uint32)


def rle_decode(runs: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`rle_encode` for an H×W mask.

    Example:
        >>> rle_decode(np.array([1, 3, 2], np.uint32), (2, 3)).tolist()
        [[0, 1, 1], [1, 0, 0]]
    """
    height, width = hw
    if runs.size == 0:
        return np.zeros(hw, np.uint8)
    runs = runs.astype(np.int64)
    if int(runs.sum()) != height * width:
        raise errors.ServingError(f"mask runs cover {int(runs.sum())} pixels; expected "
                                  f"{height}x{width} = {height * width}. Fix: client and server "
                                  "must run the same edge-sdk version")
    values = (np.arange(runs.size) % 2).astype(np.uint8)
    return np.repeat(values, runs).reshape(hw)


def _pad(array: np.ndarray) -> np.ndarray:
    """At least one row: an empty output becomes one zero row (see ``counts``)."""
    if len(array):
        return array
    return np.zeros((1,) + array.shape[1:], array.dtype)


def encode_result(result: FrameResult) -> dict[str, np.ndarray]:
    """The response tensors of one frame (without the batch dimension)."""
    lesions = result.lesions
    runs = rle_encode(result.mask)
    return {
        "mask_rle": _pad(runs),
        "boxes": _pad(np.array([[*les.bbox, *les.crop_box] for les in lesions],
                               np.int32).reshape(-1, 8)),
        "areas": _pad(np.array([les.area_px for les in lesions], np.int64)),
        "scores": _pad(np.array([[les.seg_score, les.malignancy] for les in lesions],
                                np.float64).reshape(-1, 2)),
        "labels": _pad(np.array([les.label.encode() for les in lesions], np.bytes_)),
        "over_limit": np.array([result.lesions_over_limit], np.int32),
        "latency_ms": np.array([getattr(result.latency_ms, s) for s in STAGES], np.float64),
        "error": np.array([b""], np.bytes_),
        "counts": np.array([len(runs), len(lesions)], np.int32),
    }


def encode_error(exc: BaseException) -> dict[str, np.ndarray]:
    """The response tensors of a frame the server could not process: no result, plus ``error``."""
    kind = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in ERROR_TYPES), "ServingError")
    empty = {name: np.zeros((1,) + tuple(max(d, 1) for d in shape[1:]), dtype)
             for name, dtype, shape in OUTPUTS}
    empty["latency_ms"] = np.zeros(len(STAGES), np.float64)
    empty["error"] = np.array([f"{kind}: {exc}".encode()], np.bytes_)
    empty["counts"] = np.zeros(2, np.int32)
    return empty


def raise_if_error(outputs: Mapping[str, np.ndarray]) -> None:
    """Raise the typed error a response carries, if any."""
    raw = np.asarray(outputs["error"]).ravel()
    text = raw[0] if raw.size else b""
    text = text.decode() if isinstance(text, bytes) else str(text)
    if text:
        kind, _, message = text.partition(": ")
        raise ERROR_TYPES.get(kind, errors.ServingError)(f"server: {message}")


def decode_result(
    outputs: Mapping[str, np.ndarray],
    frame_hw: tuple[int, int],
    frame_index: int,
    timestamp: float,
    device_timestamp: float | None = None,
) -> FrameResult:
    """Rebuild the :class:`FrameResult` of one response (tensors without the batch dimension).

    Raises:
        EdgeSDKError: the subclass named by the response's ``error`` (e.g. ``FrameError``).
    """
    raise_if_error(outputs)
    n_runs, n_lesions = (int(v) for v in np.asarray(outputs["counts"]).ravel()[:2])
    boxes = np.asarray(outputs["boxes"]).reshape(-1, 8)[:n_lesions]
    areas = np.asarray(outputs["areas"]).ravel()[:n_lesions]
    scores = np.asarray(outputs["scores"], np.float64).reshape(-1, 2)[:n_lesions]
    labels = np.asarray(outputs["labels"]).ravel()[:n_lesions]
    lesions = [
        Lesion(bbox=tuple(int(v) for v in box[:4]),  # type: ignore[arg-type]
               crop_box=tuple(int(v) for v in box[4:]),  # type: ignore[arg-type]
               area_px=int(area), seg_score=float(score[0]), malignancy=float(score[1]),
               label=label.decode() if isinstance(label, bytes) else str(label))
        for box, area, score, label in zip(boxes, areas, scores, labels)
    ]
    latency = np.asarray(outputs["latency_ms"], np.float64).ravel()
    return FrameResult(
        frame_index=frame_index, timestamp=timestamp, device_timestamp=device_timestamp,
        mask=rle_decode(np.asarray(outputs["mask_rle"]).ravel()[:n_runs], frame_hw), lesions=lesions,
        lesions_over_limit=int(np.asarray(outputs["over_limit"]).ravel()[0]),
        latency_ms=StageLatency(**{s: float(v) for s, v in zip(STAGES, latency)}),
    )


def frame_tensor(frame: Any) -> np.ndarray:
    """A frame as the server's input: uint8 H×W×C (gray frames get C = 1), C-contiguous.

    Only the wire shape is fixed here; the server's pipeline checks everything else and answers
    a typed ``FrameError``, exactly as the in-process pipeline would raise it.
    """
    array = np.asarray(frame)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.dtype != np.uint8:
        raise errors.FrameError(f"frame has shape {array.shape} and dtype {array.dtype}; expected "
                                "a uint8 array of shape HxW (grayscale) or HxWx3 (BGR). Fix: "
                                "np.clip(frame, 0, 255).astype(np.uint8)")
    return np.ascontiguousarray(array)
