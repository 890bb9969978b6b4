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
        raise FrameError(f"frame is empty (shape {frame.shape}); {expected}. Fix: check the "
                         "capture: it delivered no pixels")
    if frame.dtype != np.uint8:
        detail, fix = dtype_advice(frame)
        raise FrameError(f"frame has dtype {frame.dtype}{detail}; {expected}. Fix: {fix}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
        if frame.ndim == 3 and frame.shape[2] == 4:
            fix = "drop the alpha channel, cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)"
        elif frame.ndim == 3:
            fix = (f"{frame.shape[2]} channels is neither gray nor BGR: pass one channel "
                   "(frame[..., 0]) or three")
        else:
            fix = (f"a {frame.ndim}-dimensional array is not an image: pass one frame as HxW, "
                   "e.g. frame.reshape(height, width) or stack[i] for a cine")
        raise FrameError(f"frame has shape {frame.shape}; {expected}. Fix: {fix}")
    height, width = frame.shape[:2]
    if height < MIN_FRAME_SIDE or width < MIN_FRAME_SIDE:
        raise FrameError(
            f"frame is {height}x{width} pixels; {expected}. Fix: check the capture size"
        )
    return frame


def dtype_advice(frame: np.ndarray) -> tuple[str, str]:
    """What a non-uint8 frame holds and how to convert it without saturating or blanking it.

    ``np.clip(frame, 0, 255)`` is right only for values already in 0-255: it saturates a
    12/16-bit frame to white and turns a 0-1 float frame black. So the advice follows the values.

    Returns:
        ``(detail, fix)``: e.g. ``(" with values 0 to 4095", "scale by the range used ...")``.

    Example:
        >>> import numpy as np
        >>> dtype_advice(np.full((4, 4), 0.5, np.float32))[1]
        'values in 0-1: (frame * 255).round().astype(np.uint8)'
    """
    dtype = frame.dtype
    if dtype == np.bool_:
        return "", "a mask is not an image; to view it anyway: frame.astype(np.uint8) * 255"
    if not np.issubdtype(dtype, np.integer) and not np.issubdtype(dtype, np.floating):
        return "", "convert the frame to a uint8 numpy array (np.asarray(frame, np.uint8))"
    finite = frame if np.issubdtype(dtype, np.integer) else frame[np.isfinite(frame)]
    prefix = ""
    if finite.size < frame.size:
        prefix = "replace NaN and infinite values (np.nan_to_num), then "
        if finite.size == 0:
            return " and only NaN or infinite values", "clean the source: no pixel is a number"
    low, high = finite.min(), finite.max()
    shown = f"{low:g} to {high:g}" if np.issubdtype(dtype, np.floating) else f"{low} to {high}"
    detail = f" with values {shown}" + (" and NaN or infinite values" if prefix else "")
    if low >= 0 and high <= 1 and np.issubdtype(dtype, np.floating):
        return detail, prefix + "values in 0-1: (frame * 255).round().astype(np.uint8)"
    if low >= 0 and high <= 255:
        return detail, prefix + "values already in 0-255: frame.round().astype(np.uint8)" \
            if np.issubdtype(dtype, np.floating) else prefix + "frame.astype(np.uint8)"
    return detail, (prefix + f"scale by the range used ({shown}), not np.clip, which would "
                    "saturate it: cv2.normalize(frame, None, 0, 255, cv2.NORM_MINMAX, "
                    "dtype=cv2.CV_8U) per frame, or a fixed factor 255 / (the sensor's maximum, "
                    "e.g. 4095 for 12-bit) so that brightness stays comparable across frames")


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
