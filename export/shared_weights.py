"""An fp32 ONNX file whose weights are read from the family's ``safetensors`` file.

A family ships each net's fp32 weights twice: as ``<role>.fp32.safetensors`` (fine-tuning, the
torch baseline) and inside the fp32 ONNX file TensorRT builds fp16 engines from. ONNX can keep
a tensor's bytes in another file (``external_data``: location, offset, length), and a
safetensors file is a JSON header followed by each tensor's raw little-endian bytes. So the
ONNX artifact is exported **without** folding batch norms into the convolutions (its weights
are then exactly the training tensors) and every initializer whose bytes equal a tensor of the
safetensors file points into that file instead of holding a copy: the ONNX file shrinks to its
graph (about 100 kB), the bytes are stored once, and the bundle digest still covers both files.
ONNX Runtime, OpenVINO and TensorRT's parser fold the batch norms again when they load it.

Only artifacts are written this way; a bundle's main files stay self-contained (model
repositories and other tools copy them alone).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from export.errors import ExportError

# below this, a tensor is kept inside the ONNX file (scalars, shapes: not worth a reference)
MIN_SHARED_BYTES = 64


def safetensors_index(path: str | Path) -> dict[bytes, tuple[int, int]]:
    """Each tensor of a safetensors file by its bytes: (absolute offset, length) in the file."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    index: dict[bytes, tuple[int, int]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        index.setdefault(raw[base + start : base + end], (base + start, end - start))
    return index


def point_into_safetensors(onnx_path: str | Path, weights: str | Path, out: str | Path) -> int:
    """Write ``onnx_path`` to ``out`` with every initializer found byte-for-byte in ``weights``
    (a safetensors file that will lie beside ``out``) read from there. Returns the bytes shared.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    index = safetensors_index(weights)
    location = Path(weights).name
    shared = 0
    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        if len(data) < MIN_SHARED_BYTES or data not in index:
            continue
        offset, length = index[data]
        for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
            tensor.ClearField(field)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", location), ("offset", str(offset)),
                           ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        shared += length
    onnx.save(model, str(out))
    return shared


def same_outputs(reference: str | Path, candidate: str | Path, inputs: np.ndarray,
                 atol: float = 1e-4) -> float:
    """Max |difference| of the two ONNX files' outputs on ``inputs`` (ONNX Runtime, CPU).

    Raises:
        ExportError: the difference exceeds ``atol`` (the weight-sharing file is not the same
            net), or either is not finite.
    """
    import onnxruntime as ort

    def run(path: str | Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {session.get_inputs()[0].name: inputs})[0])

    ref, got = run(reference), run(candidate)
    diff = float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64))))
    if not np.isfinite(diff) or diff > atol:
        raise ExportError(f"family: {candidate} (weights in safetensors) differs from {reference} "
                          f"by {diff:.3g} (max |diff|), beyond {atol:g}. Fix: report it; build "
                          "the family with the weights inline (share_weights=False)")
    return diff
