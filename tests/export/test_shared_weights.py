"""export.shared_weights: ONNX initializers read from a safetensors file, checked by outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from export.errors import ExportError
from export.shared_weights import point_into_safetensors, safetensors_index, same_outputs


def _conv_net(path: Path, seed: int = 0) -> Path:
    """image[1,1,32,32] -> a 3x3 convolution of 4 channels -> out (weights 144 B, bias 16 B)."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["out"], pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 4, 32, 32])],
        [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _weights_of(onnx_path: Path, out: Path) -> Path:
    """A safetensors file holding every initializer of ``onnx_path`` (plus one unrelated)."""
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import save_file

    model = onnx.load(str(onnx_path))
    tensors = {f"t{i}": numpy_helper.to_array(t) for i, t in enumerate(model.graph.initializer)}
    tensors["other"] = np.arange(100, dtype=np.float32)
    save_file(tensors, str(out))
    return out


def test_initializers_point_into_the_safetensors(tmp_path: Path) -> None:
    import onnx

    model = _conv_net(tmp_path / "seg.onnx")
    weights = _weights_of(model, tmp_path / "seg.safetensors")
    assert len(safetensors_index(weights)) >= 1
    shared = point_into_safetensors(model, weights, tmp_path / "shared.onnx")
    external = [t for t in onnx.load(str(tmp_path / "shared.onnx"), load_external_data=False)
                .graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert [t.name for t in external] == ["w"]  # the 16-byte bias stays inline
    assert shared == 144 == int({e.key: e.value for e in external[0].external_data}["length"])
    inputs = np.random.default_rng(0).random((1, 1, 32, 32), np.float32)
    assert same_outputs(model, tmp_path / "shared.onnx", inputs) == 0.0


def test_a_different_net_is_refused(tmp_path: Path) -> None:
    one, other = _conv_net(tmp_path / "a.onnx", 0), _conv_net(tmp_path / "b.onnx", 1)
    inputs = np.random.default_rng(0).random((1, 1, 32, 32), np.float32)
    with pytest.raises(ExportError, match="differs"):
        same_outputs(one, other, inputs)
