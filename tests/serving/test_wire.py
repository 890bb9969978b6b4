"""The wire format: run-length masks, results and typed errors survive the round trip exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import BundleError, EdgeSDKError, FrameError, ServingError
from edge_sdk.pipeline import Pipeline
from edge_sdk.serving import wire
from edge_sdk.testing import synthetic_frame


def _mask(kind: str) -> np.ndarray:
    mask = np.zeros((48, 64), np.uint8)
    if kind == "full":
        mask[:] = 1
    elif kind == "first":
        mask[0, 0] = 1
    elif kind == "last":
        mask[-1, -1] = 1
    elif kind == "blob":
        mask[10:30, 5:40] = 1
        mask[35:40, 50:60] = 1
    elif kind == "random":
        mask = (np.random.default_rng(0).random((48, 64)) > 0.5).astype(np.uint8)
    return mask


@pytest.mark.parametrize("kind", ["empty", "full", "first", "last", "blob", "random"])
def test_rle_round_trip_is_exact(kind: str) -> None:
    mask = _mask(kind)
    runs = wire.rle_encode(mask)
    assert runs.dtype == np.uint32 and int(runs.sum()) == (mask.size if mask.any() else 0)
    np.testing.assert_array_equal(wire.rle_decode(runs, mask.shape), mask)


def test_rle_is_compact_for_lesion_masks() -> None:
    runs = wire.rle_encode(_mask("blob"))
    assert runs.nbytes < _mask("blob").nbytes / 4  # 25 rows crossed: 51 runs for 3072 pixels


@pytest.mark.parametrize(("runs", "hw", "error"), [
    (np.array([5, 3], np.uint32), (4, 4), "cover 8 pixels"),
])
def test_rle_decode_refuses_runs_of_another_size(runs: np.ndarray, hw: tuple[int, int],
                                                 error: str) -> None:
    with pytest.raises(ServingError, match=error):
        wire.rle_decode(runs, hw)


def test_rle_refuses_a_label_image() -> None:
    with pytest.raises(ServingError, match="0/1"):
        wire.rle_encode(np.full((4, 4), 2, np.uint8))


def test_result_round_trip_equals_the_in_process_result(tiny_bundle_dir) -> None:
    frame = synthetic_frame(240, 320, lesions=[(160, 120, 30, 20), (60, 60, 15, 12)])
    with Pipeline(tiny_bundle_dir) as pipeline:
        for image in (frame, np.zeros((64, 64), np.uint8)):
            result = pipeline.process(image, frame_index=7, timestamp=1.5, device_timestamp=2.5)
            outputs = wire.encode_result(result)
            assert all(len(v) >= 1 for v in outputs.values())  # nothing of size 0 on the wire
            back = wire.decode_result(outputs, image.shape[:2], 7, 1.5, 2.5)
            assert back == result.replace(mask=back.mask) and back.lesions == result.lesions
            np.testing.assert_array_equal(back.mask, result.mask)


@pytest.mark.parametrize(("exc", "raised"), [
    (FrameError("frame is 10x10 pixels"), FrameError),
    (BundleError("bad bundle"), BundleError),
    (EdgeSDKError("other"), EdgeSDKError),
    (RuntimeError("boom"), ServingError),
])
def test_errors_come_back_as_their_type(exc: Exception, raised: type) -> None:
    outputs = wire.encode_error(exc)
    assert all(len(v) >= 1 for v in outputs.values())
    with pytest.raises(raised, match="server: ") as info:
        wire.decode_result(outputs, (32, 32), 0, 0.0)
    assert type(info.value) is raised


@pytest.mark.parametrize(("frame", "shape", "error"), [
    (np.zeros((40, 50), np.uint8), (40, 50, 1), None),
    (np.zeros((40, 50, 3), np.uint8), (40, 50, 3), None),
    (np.zeros((40, 50), np.float32), None, "dtype float32"),
    (np.zeros(40, np.uint8), None, "shape"),
])
def test_frame_tensor(frame: np.ndarray, shape: tuple[int, ...] | None, error: str | None) -> None:
    if error is None:
        assert wire.frame_tensor(frame).shape == shape
    else:
        with pytest.raises(FrameError, match=error):
            wire.frame_tensor(frame)
