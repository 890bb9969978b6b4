"""Latency measurement used to choose precisions."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edge_sdk.testing import tiny_classifier_onnx, tiny_segmenter_onnx
from export.latency import measure_latencies, measure_latency


def test_interleaved_measurement_of_each_candidate(tmp_path: Path) -> None:
    seg = tiny_segmenter_onnx(tmp_path / "a.onnx", 64)
    other = tiny_segmenter_onnx(tmp_path / "b.onnx", 64, threshold=0.5)
    result = measure_latencies({"a": seg, "b": other}, (1, 1, 64, 64), runs=5, threads=1)
    assert set(result) == {"a", "b"}
    for stats in result.values():
        assert 0 < stats["p50_ms"] <= stats["p90_ms"] and stats["runs"] == 5


def test_single_model_with_concrete_batch(tmp_path: Path) -> None:
    cls = tiny_classifier_onnx(tmp_path / "c.onnx", 32)
    assert measure_latency(cls, (3, 1, 32, 32), runs=3, threads=1)["shape"] == [3, 1, 32, 32]
