"""ONNX export: opset, static/dynamic shapes, and parity with PyTorch on real inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from export.errors import ExportError  # noqa: E402
from export.onnx_export import PARITY_ATOL, check_parity, real_inputs, run_onnx, to_onnx  # noqa: E402
from export.train import model_from_checkpoint  # noqa: E402


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_segmenter_export_is_static_with_probabilities(tiny_checkpoints, tmp_path: Path) -> None:
    seg_ckpt, _ = tiny_checkpoints
    path = to_onnx(seg_ckpt, tmp_path / "seg.onnx")
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert _dims(model.graph.input[0]) == [1, 1, 64, 64]
    assert model.graph.output[0].name == "lesion_prob"
    assert model.graph.node[-1].op_type == "Sigmoid"
    net, config = model_from_checkpoint(seg_ckpt)
    report = check_parity(net, "segmenter", path, real_inputs(config, 4))
    assert report.max_abs_diff <= PARITY_ATOL and report.n_inputs == 4


def test_classifier_export_has_dynamic_batch(tiny_checkpoints, tmp_path: Path) -> None:
    _, cls_ckpt = tiny_checkpoints
    path = to_onnx(cls_ckpt, tmp_path / "cls.onnx")
    model = onnx.load(str(path))
    assert isinstance(_dims(model.graph.input[0])[0], str)  # symbolic batch
    net, config = model_from_checkpoint(cls_ckpt)
    inputs = real_inputs(config, 3)
    assert run_onnx(path, np.stack(inputs)).shape == (3, 1)
    report = check_parity(net, "classifier", path, inputs)
    assert report.max_abs_diff <= PARITY_ATOL


def test_parity_failure_is_an_error(tiny_checkpoints, tmp_path: Path) -> None:
    seg_ckpt, _ = tiny_checkpoints
    path = to_onnx(seg_ckpt, tmp_path / "seg.onnx")
    net, config = model_from_checkpoint(seg_ckpt)
    with torch.no_grad():  # perturb the PyTorch side so the two must disagree
        for p in net.parameters():
            p.add_(0.5)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_parity(net, "segmenter", path, real_inputs(config, 2))


def test_old_opset_refused(tiny_checkpoints, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="opset"):
        to_onnx(tiny_checkpoints[0], tmp_path / "x.onnx", opset=13)


def test_parity_refuses_nan_outputs(tiny_checkpoints, tmp_path: Path) -> None:
    seg = tiny_checkpoints[0]
    path = to_onnx(seg, tmp_path / "seg.onnx")
    model, config = model_from_checkpoint(seg)
    with torch.no_grad():  # what a shifted BatchNorm statistic does: NaN everywhere after it
        next(m for m in model.modules() if hasattr(m, "running_var")).running_var.fill_(-1.0)
    with pytest.raises(ExportError, match="NaN"):
        check_parity(model, "segmenter", path, real_inputs(config, 2))
