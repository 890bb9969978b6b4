"""Frame errors advise a conversion that fits the values: never np.clip for 16-bit or 0-1 data."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import FrameError
from edge_sdk.preprocess import validate_frame


@pytest.mark.parametrize(("frame", "advice"), [
    (np.full((64, 64), 4095, np.uint16), "scale by the range used (4095 to 4095)"),
    (np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64), "(frame * 255).round()"),
    (np.full((64, 64), 200.0), "values already in 0-255"),
    (np.full((64, 64), 200, np.int32), "frame.astype(np.uint8)"),
    (np.full((64, 64), np.nan), "no pixel is a number"),
    (np.where(np.eye(64) > 0, np.nan, 0.5), "np.nan_to_num"),
    (np.zeros((64, 64), bool), "a mask is not an image"),
    (np.zeros((64, 64), np.complex64), "np.asarray(frame, np.uint8)"),
    (np.zeros((64, 64, 4), np.uint8), "drop the alpha channel"),
    (np.zeros((64, 64, 2), np.uint8), "2 channels is neither gray nor BGR"),
    (np.zeros((2, 64, 64, 3), np.uint8), "stack[i]"),
    (np.zeros((0, 64), np.uint8), "delivered no pixels"),
    (np.zeros((16, 64), np.uint8), "check the capture size"),
    ([[0] * 64] * 64, "pass a numpy array"),
])
def test_frame_error_advice_fits_the_values(frame: object, advice: str) -> None:
    with pytest.raises(FrameError) as info:
        validate_frame(frame)
    message = str(info.value)
    assert "Fix:" in message and advice in message, message
    if isinstance(frame, np.ndarray) and frame.dtype in (np.uint16, np.float32):
        assert "np.clip(frame, 0, 255)" not in message
