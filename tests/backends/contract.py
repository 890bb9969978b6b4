"""The contract every backend passes. A backend's test file subclasses :class:`BackendContract`
and provides ``make_backend(model_path)``; the rest runs unchanged (SMP's shared model tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_sdk import Backend, BackendError
from edge_sdk.testing import tiny_classifier_onnx, tiny_segmenter_onnx

SEG_SIZE = 64
CLS_SIZE = 32


class BackendContract:
    """Shared behaviour of all backends, run against the tiny real ONNX models."""

    def make_backend(self, model_path: Path) -> Backend:  # pragma: no cover - overridden
        """A backend for the tiny ONNX model at ``model_path``."""
        raise NotImplementedError

    def make_segmenter(self, folder: Path) -> Backend:
        """The tiny segmenter; a backend that runs another format overrides this."""
        return self.make_backend(tiny_segmenter_onnx(folder / "seg.onnx", SEG_SIZE))

    def make_classifier(self, folder: Path) -> Backend:
        return self.make_backend(tiny_classifier_onnx(folder / "cls.onnx", CLS_SIZE))

    @pytest.fixture()
    def segmenter(self, tmp_path: Path) -> Backend:
        return self.make_segmenter(tmp_path)

    @pytest.fixture()
    def classifier(self, tmp_path: Path) -> Backend:
        return self.make_classifier(tmp_path)

    def test_infer_needs_activation(self, segmenter: Backend) -> None:
        with pytest.raises(BackendError, match="call activate"):
            segmenter.infer({"image": np.zeros((1, 1, SEG_SIZE, SEG_SIZE), np.float32)})
        with pytest.raises(BackendError, match="call activate"):
            _ = segmenter.input_specs

    def test_activate_twice_refused_and_deactivate_idempotent(self, segmenter: Backend) -> None:
        segmenter.activate()
        with pytest.raises(BackendError, match="twice"):
            segmenter.activate()
        segmenter.deactivate()
        segmenter.deactivate()
        assert not segmenter.is_active

    def test_declares_specs(self, segmenter: Backend, classifier: Backend) -> None:
        with segmenter, classifier:
            (seg_in,) = segmenter.input_specs
            assert (seg_in.name, seg_in.shape, seg_in.dtype) == (
                "image", (1, 1, SEG_SIZE, SEG_SIZE), np.float32)
            (cls_in,) = classifier.input_specs
            assert cls_in.shape == (None, 1, CLS_SIZE, CLS_SIZE)
            assert [s.name for s in classifier.output_specs] == ["probs"]

    def test_outputs_shapes_and_values(self, segmenter: Backend) -> None:
        image = np.ones((1, 1, SEG_SIZE, SEG_SIZE), np.float32)
        image[..., 20:40, 20:40] = 0.0  # a dark square: the tiny segmenter's "lesion"
        with segmenter:  # outputs are valid until the next call: check them inside
            prob = segmenter.infer({"image": image})["lesion_prob"]
            assert prob.shape == (1, 1, SEG_SIZE, SEG_SIZE)
            assert prob[0, 0, 30, 30] > 0.9 and prob[0, 0, 5, 5] < 0.1

    @pytest.mark.parametrize("batch", [1, 3, 8])
    def test_dynamic_batch(self, classifier: Backend, batch: int) -> None:
        with classifier:
            probs = classifier.infer({"crop": np.zeros((batch, 1, CLS_SIZE, CLS_SIZE), np.float32)})
            assert probs["probs"].shape == (batch, 2)
            np.testing.assert_allclose(probs["probs"].sum(axis=1), 1.0, rtol=1e-5)

    @pytest.mark.parametrize(
        ("feed", "match"),
        [
            ({"img": np.zeros((1, 1, SEG_SIZE, SEG_SIZE), np.float32)}, r"expected exactly \['image'\]"),
            ({}, r"expected exactly \['image'\]"),
            ({"image": np.zeros((1, 1, SEG_SIZE, SEG_SIZE + 1), np.float32)}, "expected shape"),
            ({"image": np.zeros((1, SEG_SIZE, SEG_SIZE), np.float32)}, "expected shape"),
            ({"image": np.zeros((1, 1, SEG_SIZE, SEG_SIZE), np.float64)}, "dtype float64"),
            ({"image": [[0.0]]}, "expected a numpy array"),
        ],
    )
    def test_bad_inputs_rejected(self, segmenter: Backend, feed: dict, match: str) -> None:
        with segmenter:
            with pytest.raises(BackendError, match=match):
                segmenter.infer(feed)
            # still usable afterwards
            segmenter.infer({"image": np.zeros((1, 1, SEG_SIZE, SEG_SIZE), np.float32)})

    def test_records_latency_and_calls(self, segmenter: Backend) -> None:
        with segmenter:
            for _ in range(3):
                segmenter.infer({"image": np.zeros((1, 1, SEG_SIZE, SEG_SIZE), np.float32)})
            assert segmenter.calls == 3
            assert segmenter.last_latency_ms > 0.0

    def test_deterministic(self, segmenter: Backend) -> None:
        rng = np.random.default_rng(1)
        image = rng.random((1, 1, SEG_SIZE, SEG_SIZE), dtype=np.float32)
        with segmenter:
            first = segmenter.infer({"image": image})["lesion_prob"].copy()
            second = segmenter.infer({"image": image})["lesion_prob"]
            assert np.array_equal(first, second)
