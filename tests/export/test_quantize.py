"""Quantization per target: the node and data types each flavour must produce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, numpy_helper  # noqa: E402

from export.calibration import classifier_calibration, segmenter_calibration  # noqa: E402
from export.data import load_frames  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.onnx_export import run_onnx, to_onnx  # noqa: E402
from export.quantize import head_nodes, quantize_int8, to_fp16  # noqa: E402
from export.train import model_from_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def seg_fp32(tiny_checkpoints, tmp_path_factory) -> Path:
    return to_onnx(tiny_checkpoints[0], tmp_path_factory.mktemp("q") / "seg.onnx")


@pytest.fixture(scope="module")
def calibration(tiny_checkpoints, synthetic_busi):
    _, config = model_from_checkpoint(tiny_checkpoints[0])
    frames = load_frames(synthetic_busi, "train")
    return lambda: segmenter_calibration(frames, config.input_spec(), n=len(frames))


def _initializers(model) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_int8_cpu_qdq_is_u8_activations_s8_weights(seg_fp32, calibration, tmp_path) -> None:
    path = quantize_int8(seg_fp32, tmp_path / "q.onnx", "int8-cpu", calibration(), "QDQ",
                         min_frames=1)
    model = onnx.load(str(path))
    inits = _initializers(model)
    qnodes = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert qnodes, "no QuantizeLinear nodes"
    for node in qnodes:  # activations: uint8 zero points
        assert inits[node.input[2]].dtype == np.uint8
    weight_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
                 and n.input[0] in inits and inits[n.input[0]].ndim == 4]
    assert weight_dq and all(inits[n.input[0]].dtype == np.int8 for n in weight_dq)


def test_int8_cpu_qoperator_uses_qlinear_ops(seg_fp32, calibration, tmp_path) -> None:
    path = quantize_int8(seg_fp32, tmp_path / "q.onnx", "int8-cpu", calibration(),
                         "QOperator", min_frames=1)
    ops = _ops(onnx.load(str(path)))
    assert ("QLinearConv" in ops and "Conv" in ops) or "QLinearConv" in ops


def test_int8_trt_is_symmetric_signed_with_float_head(seg_fp32, calibration, tmp_path) -> None:
    path = quantize_int8(seg_fp32, tmp_path / "q.onnx", "int8-trt", calibration(), "QDQ",
                         min_frames=1)
    model = onnx.load(str(path))
    inits = _initializers(model)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8, node.name
        assert not zero_point.any(), f"{node.name}: zero point not 0"
    # per-channel weights: some weight scale is a vector
    assert any(inits[n.input[1]].ndim == 1 and inits[n.input[1]].size > 1 for n in qdq
               if n.input[1] in inits)
    # the head: the last Conv reads a float weight (no DequantizeLinear in front of it)
    producers = {o: n for n in model.graph.node for o in n.output}
    last_conv = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    weight = last_conv.input[1]
    assert weight in inits and inits[weight].dtype == np.float32
    assert weight not in producers
    assert model.graph.node[-1].op_type == "Sigmoid"
    assert "QLinearConv" not in _ops(model)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_int8_cpu_keeps_a_per_sample_scalar_head_in_float(tiny_checkpoints, synthetic_busi,
                                                          tmp_path, fmt) -> None:
    # the moving-average calibration would shrink the range of an N×1 logit to its mean
    _, config = model_from_checkpoint(tiny_checkpoints[1])
    fp32 = to_onnx(tiny_checkpoints[1], tmp_path / "cls.onnx")
    frames = load_frames(synthetic_busi, "train")
    path = quantize_int8(fp32, tmp_path / "q.onnx", "int8-cpu",
                         classifier_calibration(frames, config.input_spec(), n=50), fmt,
                         min_frames=1)
    model = onnx.load(str(path))
    producers = {o: n for n in model.graph.node for o in n.output}
    head = producers[model.graph.output[0].name]
    assert head.op_type == "Gemm", head.op_type
    assert _initializers(model)[head.input[1]].dtype == np.float32
    assert any(op.startswith("QLinear") or op == "QuantizeLinear" for op in _ops(model))


def test_int8_cpu_quantizes_a_per_pixel_head(seg_fp32, calibration, tmp_path) -> None:
    path = quantize_int8(seg_fp32, tmp_path / "q.onnx", "int8-cpu", calibration(), "QDQ",
                         min_frames=1)
    model = onnx.load(str(path))
    producers = {o: n for n in model.graph.node for o in n.output}
    last_conv = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    assert producers[last_conv.input[1]].op_type == "DequantizeLinear"


def test_head_nodes_end_at_last_weighted_op(seg_fp32) -> None:
    names = head_nodes(seg_fp32)
    model = onnx.load(str(seg_fp32))
    by_name = {n.name: n for n in model.graph.node}
    assert by_name[names[0]].op_type == "Sigmoid"
    assert by_name[names[-1]].op_type == "Conv"


def test_too_little_calibration_is_refused(seg_fp32, calibration, tmp_path) -> None:
    with pytest.raises(ExportError, match="at least 200"):
        quantize_int8(seg_fp32, tmp_path / "q.onnx", "int8-cpu", calibration())
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize(("target", "fmt", "match"), [
    ("fp16", "QDQ", "not an INT8 target"),
    ("int8-trt", "QOperator", "Q/DQ only"),
    ("int8-cpu", "QInt4", "format"),
])
def test_bad_quantize_arguments(seg_fp32, target, fmt, match, tmp_path) -> None:
    with pytest.raises(ExportError, match=match):
        quantize_int8(seg_fp32, tmp_path / "q.onnx", target, [], fmt)


def test_fp16_keeps_float32_io_and_runs(seg_fp32, tmp_path) -> None:
    path = to_fp16(seg_fp32, tmp_path / "h.onnx")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    x = np.random.default_rng(0).standard_normal((1, 1, 1, 64, 64)).astype(np.float32)[0]
    full, half = run_onnx(seg_fp32, x), run_onnx(path, x)
    assert np.abs(full - half).max() < 1e-2


def test_classifier_calibration_uses_lesion_crops(tiny_checkpoints, synthetic_busi) -> None:
    _, config = model_from_checkpoint(tiny_checkpoints[1])
    frames = load_frames(synthetic_busi, "train")
    batches = list(classifier_calibration(frames, config.input_spec(), n=50))
    assert batches and all(b["crop"].shape == (1, 1, 32, 32) for b in batches)
