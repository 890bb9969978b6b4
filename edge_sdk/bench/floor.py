"""The INT8 compute floor: a net's multiply-accumulates over this machine's measured int8 rate.

``floor_ms = MACs × 2 / (int8 ops per second)``, where the rate is measured here by ONNX
Runtime on a large u8s8 convolution (its fast path). A pipeline within a small factor of the
floor has little left to gain from the runtime; far above it, time goes elsewhere.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import ConfigError

_CONV_OPS = ("Conv", "QLinearConv", "ConvInteger", "ConvTranspose")
_MATMUL_OPS = ("MatMul", "Gemm", "QLinearMatMul", "MatMulInteger")


def count_macs(onnx_path: str | Path, batch: int = 1) -> int:
    """Multiply-accumulates of one inference (convolutions and matrix products), from ONNX shape
    inference with data propagation; a dynamic batch is taken as ``batch``.

    Raises:
        ConfigError: a convolution or matrix product has no inferred shape (ONNX Runtime's
            QOperator files: its ``com.microsoft`` ops stop shape inference), so the count
            would be short; count the fp32 or Q/DQ file of the same net instead.
    """
    onnx = import_optional("onnx", "bench", "Counting a model's MACs")
    model = onnx.load(str(onnx_path))
    for tensor in model.graph.input:
        dims = tensor.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch
    # data propagation resolves the output sizes that Resize computes from Shape ops: without
    # it every convolution after an upsampling has no shape (a U-Net decoder: 23 % of MACs)
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        shapes[info.name] = [d.dim_value for d in info.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    # in a Q/DQ model a weight reaches its Conv/MatMul through DequantizeLinear: count with the
    # shape of the DequantizeLinear's input
    dequantized = {n.output[0]: str(n.input[0]) for n in model.graph.node
                   if n.op_type == "DequantizeLinear"}
    macs, unknown = 0, []
    for node in model.graph.node:
        if node.op_type not in _CONV_OPS + _MATMUL_OPS:
            continue
        quantized = node.op_type in ("QLinearConv", "QLinearMatMul")
        weight = node.input[3] if quantized else node.input[1]
        out, w = shapes.get(node.output[0]), shapes.get(dequantized.get(weight, weight))
        if not (out and w and all(out) and all(w)):
            unknown.append(node.name or node.op_type)
        elif node.op_type in _CONV_OPS:
            # weight is [out, in/group, kH, kW]: each output element costs prod(w[1:]) MACs
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        else:
            k = w[-1] if node.op_type == "Gemm" and any(
                a.name == "transB" and a.i for a in node.attribute) else w[-2]
            macs += int(np.prod(out)) * int(k)
    if unknown:
        raise ConfigError(
            f"count_macs: {len(unknown)} convolution/matrix products of {onnx_path} have no "
            f"inferred shape (first: {unknown[0]!r}), so their MACs cannot be counted; expected "
            "a graph that ONNX shape inference can follow. Fix: count the net's fp32 or Q/DQ "
            "file (ONNX Runtime's QOperator contrib ops stop shape inference)")
    return macs


def _int8_conv_model(path: Path, channels: int, size: int) -> int:
    onnx = import_optional("onnx", "bench", "Measuring the int8 rate")
    helper, tp = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 127, (channels, channels, 3, 3), dtype=np.int8)
    inits = [
        helper.make_tensor("x_scale", tp.FLOAT, [], [0.02]),
        helper.make_tensor("x_zero", tp.UINT8, [], [128]),
        helper.make_tensor("w", tp.INT8, weight.shape, weight.tobytes(), raw=True),
        helper.make_tensor("w_scale", tp.FLOAT, [channels], [0.01] * channels),
        helper.make_tensor("w_zero", tp.INT8, [channels], [0] * channels),
        helper.make_tensor("y_scale", tp.FLOAT, [], [0.05]),
        helper.make_tensor("y_zero", tp.UINT8, [], [128]),
    ]
    node = helper.make_node("QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero",
                                            "y_scale", "y_zero"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "int8_rate",
        [helper.make_tensor_value_info("x", tp.UINT8, [1, channels, size, size])],
        [helper.make_tensor_value_info("y", tp.UINT8, [1, channels, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return channels * channels * 9 * size * size


def int8_ops_per_second(threads: int, channels: int = 128, size: int = 64,
                        repeats: int = 30) -> float:
    """This machine's int8 rate through ONNX Runtime's u8s8 convolution (ops = 2 × MACs),
    from the median of ``repeats`` timed runs after warm-up."""
    from edge_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "int8_rate.onnx"
        macs = _int8_conv_model(path, channels, size)
        x = np.random.default_rng(1).integers(0, 255, (1, channels, size, size), dtype=np.uint8)
        with OnnxRuntimeBackend(path, threads=threads, providers=["CPUExecutionProvider"]) as ort:
            for _ in range(5):
                ort.infer({"x": x})
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                ort.infer({"x": x})
                times.append(time.perf_counter() - start)
    return 2.0 * macs / float(np.median(times))


def floor_ms(macs: int, ops_per_second: float) -> float:
    """Milliseconds that ``macs`` take at ``ops_per_second`` (2 ops per MAC).

    Example:
        >>> floor_ms(1_000_000_000, 2e12)
        1.0
    """
    return 2.0 * macs / ops_per_second * 1000.0
