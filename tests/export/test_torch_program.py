"""torch programs of trained nets: the torch backend (the torch-fp32 baseline) runs the same
weights as the bundle's ONNX models and gives the same results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from edge_sdk import Pipeline, load_bundle
from edge_sdk.testing import synthetic_frame
from export.build import BuildOptions, build_bundle
from export.torch_program import add_torch_programs


def test_torch_programs_match_onnx(tiny_checkpoints, synthetic_busi: Path, tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    options = BuildOptions(target="fp32", out=tmp_path / "fp32", work=tmp_path / "work",
                           data=synthetic_busi, min_calibration=1, latency_runs=3, max_drop=1.0)
    bundle = add_torch_programs(build_bundle(seg, cls, options).root, seg, cls)
    assert [a.kind for a in load_bundle(bundle.root).manifest.segmenter.artifacts] == ["torch"]
    frame = synthetic_frame(120, 160, ((80, 60, 22, 16), (30, 30, 10, 10)), seed=3)
    with Pipeline(bundle) as ort, Pipeline(bundle, backend="torch",
                                           backend_options={"device": "cpu"}) as eager:
        a, b = ort.process(frame), eager.process(frame)
        raw_onnx = ort.segmenter.infer({"image": np.zeros((1, 1, 64, 64), np.float32)})
        raw_torch = eager.segmenter.infer({"image": np.zeros((1, 1, 64, 64), np.float32)})
    np.testing.assert_allclose(raw_torch["lesion_prob"], raw_onnx["lesion_prob"], atol=1e-4)
    assert (a.mask != b.mask).mean() < 0.01
    assert [l.bbox for l in a.lesions] == [l.bbox for l in b.lesions]
    np.testing.assert_allclose([l.malignancy for l in a.lesions],
                               [l.malignancy for l in b.lesions], atol=1e-4)
