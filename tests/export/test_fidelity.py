"""Per-net output fidelity: the probability shift of a conversion against fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from edge_sdk.testing import tiny_classifier_onnx, tiny_segmenter_onnx
from export.fidelity import output_shift


def test_identical_files_do_not_shift(tmp_path: Path) -> None:
    model = tiny_segmenter_onnx(tmp_path / "seg.onnx", size=32)
    inputs = [np.random.default_rng(i).random((1, 32, 32), np.float32) for i in range(5)]
    shift = output_shift(model, model, inputs, "lesion_probability", threads=1)
    assert shift == {"samples": 5, "mean": 0.0, "p95": 0.0, "max": 0.0}


def test_shift_is_measured_in_probability(tmp_path: Path) -> None:
    # same graph, another threshold: every pixel's probability moves by a known amount
    reference = tiny_segmenter_onnx(tmp_path / "a.onnx", size=16, threshold=0.3, gain=1.0)
    moved = tiny_segmenter_onnx(tmp_path / "b.onnx", size=16, threshold=0.5, gain=1.0)
    inputs = [np.full((1, 16, 16), v, np.float32) for v in (0.0, 0.5, 1.0)]
    shift = output_shift(reference, moved, inputs, "lesion_probability", threads=1)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    expected = [abs(sig(0.3 - v) - sig(0.5 - v)) for v in (0.0, 0.5, 1.0)]
    assert shift["max"] == pytest.approx(max(expected), abs=1e-5)
    assert shift["mean"] == pytest.approx(np.mean(expected), abs=1e-5)


def test_logit_outputs_go_through_a_sigmoid(tmp_path: Path) -> None:
    model = tiny_classifier_onnx(tmp_path / "cls.onnx", size=8)
    inputs = [np.zeros((1, 8, 8), np.float32)]
    # reading a probability output as logits squeezes it through a sigmoid: still no shift
    assert output_shift(model, model, inputs, "malignancy_logit", threads=1)["max"] == 0.0
