"""Frame validation and conversion of pixels into a net's input tensor.

These functions are the single definition of "what the net sees": the export toolchain imports
them to build training and calibration inputs, so that training and deployment never drift.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.errors import FrameError
from edge_sdk.manifest import InputSpec

MIN_FRAME_SIDE = 32
"""Smallest accepted frame height and width, in pixels."""

RESIZE_INTERPOLATION = cv2.INTER_LINEAR
"""Interpolation used for every resize into a net (training shares it)."""


def validate_frame(frame: object) -> np.ndarray:
    """Check that ``frame`` is an image the pipeline accepts and return it as an ndarray.

    Accepted: uint8, H×W (grayscale), H×W×1 or H×W×3 (BGR, OpenCV's order), H and W ≥ 32.

    Raises:
        FrameError: what was wrong, what was expected and how to convert the frame.

    Example:
        >>> import numpy as np
        >>> validate_frame(np.zeros((48, 64), np.uint8)).shape
        (48, 64)
    """
    expected = "expected a uint8 array of shape HxW (grayscale) or HxWx3 (BGR) with H, W >= 32"
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"frame is a {type(frame).__name__}; {expected}. "
                         "Fix: pass a numpy array, e.g. from cv2.imread or a capture callback")
    if frame.size == 0:
        raise FrameError(f"frame is empty (shape {frame.shape}); {expected}")
    if frame.dtype != np.uint8:
        detail = ""
        if np.issubdtype(frame.dtype, np.floating) and not np.isfinite(frame).all():
            detail = " and contains NaN or infinite values"
        raise FrameError(
            f"frame has dtype {frame.dtype}{detail}; {expected}. Fix: clean the source, then "
            "np.clip(frame, 0, 255).astype(np.uint8)"
        )
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
        hint = ""
        if frame.ndim == 3 and frame.shape[2] == 4:
            hint = " Fix: drop the alpha channel, cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)"
        raise FrameError(f"frame has shape {frame.shape}; {expected}.{hint}")
    height, width = frame.shape[:2]
    if height < MIN_FRAME_SIDE or width < MIN_FRAME_SIDE:
        raise FrameError(
            f"frame is {height}x{width} pixels; {expected}. Fix: check the capture size"
        )
    return frame


def convert_color(image: np.ndarray, color: str) -> np.ndarray:
    """Convert a validated frame (gray H×W or BGR H×W×3) to the colour mode a net expects.

    Colour frames become grayscale by their luma (ITU-R BT.601, OpenCV's ``COLOR_BGR2GRAY``).
    Returns H×W for ``gray``, H×W×3 for ``rgb``/``bgr``.
    """
    if color == "gray":
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)  # equal channels: BGR == RGB
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color == "rgb" else image


def normalize(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Turn an H×W or H×W×C uint8 image of the net's size into a C×H×W tensor of its dtype."""
    channels = spec.channels
    pixels = image.reshape(image.shape[0], image.shape[1], channels).astype(np.float32)
    scale = np.float32(spec.scale)
    mean = np.asarray(spec.mean, np.float32)
    inv_std = (1.0 / np.asarray(spec.std, np.float32)).astype(np.float32)
    tensor = (pixels * scale - mean) * inv_std
    return np.ascontiguousarray(tensor.transpose(2, 0, 1), dtype=spec.dtype)


def to_input(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Convert a validated frame into one C×H×W sample for the net ``spec`` describes.

    Example:
        >>> import numpy as np
        >>> from edge_sdk.manifest import InputSpec
        >>> spec = InputSpec(name="image", shape=(1, 1, 64, 64))
        >>> to_input(np.full((100, 80), 255, np.uint8), spec).shape
        (1, 64, 64)
    """
    converted = convert_color(image, spec.color)
    height, width = spec.size_hw
    if converted.shape[:2] != (height, width):
        converted = cv2.resize(converted, (width, height), interpolation=RESIZE_INTERPOLATION)
    return normalize(converted, spec)


def letterbox(image: np.ndarray, size_hw: tuple[int, int], pad_value: int = 0) -> np.ndarray:
    """Resize ``image`` to fit ``size_hw`` keeping its aspect ratio, padding the rest.

    Keeping the aspect ratio matters here: a lesion's shape (taller-than-wide, irregular margin)
    is itself a malignancy sign that a plain stretch would distort.
    """
    height, width = size_hw
    src_h, src_w = image.shape[:2]
    factor = min(height / src_h, width / src_w)
    new_h = max(1, min(height, round(src_h * factor)))
    new_w = max(1, min(width, round(src_w * factor)))
    resized = cv2.resize(image, (new_w, new_h), interpolation=RESIZE_INTERPOLATION)
    out = np.full((height, width) + image.shape[2:], pad_value, dtype=image.dtype)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out
