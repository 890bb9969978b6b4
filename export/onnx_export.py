"""PyTorch checkpoint → ONNX (fp32), with a parity check against PyTorch on real frames.

The segmenter is exported with a static 1×1×H×W input and its sigmoid appended (the bundle
carries ``lesion_probability``); the classifier with a dynamic batch and its raw malignancy
logit (``malignancy_logit``: the head stays float in every precision).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_sdk.manifest import InputSpec, OutputSpec
from export.errors import ExportError
from export.train import TrainConfig, model_from_checkpoint

OPSET = 17
PARITY_ATOL = 1e-3
"""Largest |ONNX Runtime − PyTorch| accepted for an fp32 export (probabilities or logits)."""

SEGMENTER_OUTPUT = OutputSpec("lesion_prob", "lesion_probability")
CLASSIFIER_OUTPUT = OutputSpec("malignancy_logit", "malignancy_logit")


class _WithSigmoid(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def output_spec(role: str) -> OutputSpec:
    """The output name and meaning the exported net has for ``role``."""
    return SEGMENTER_OUTPUT if role == "segmenter" else CLASSIFIER_OUTPUT


def export_module(model: nn.Module, role: str, spec: InputSpec, path: str | Path,
                  opset: int = OPSET, fold: bool = True) -> Path:
    """Export an in-memory net (eval mode) to ``path``; see :func:`to_onnx`.

    ``fold=False`` keeps batch norms as nodes and every weight as trained (no constant
    folding), so that the file's tensors equal the checkpoint's (:mod:`export.shared_weights`).
    """
    if opset < 17:
        raise ExportError(f"opset {opset} is too old; expected >= 17 (LayerNorm, TensorRT 8.6+)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = (_WithSigmoid(model) if role == "segmenter" else model).eval()
    height, width = spec.size_hw
    dummy = torch.zeros(1 if role == "segmenter" else 2, spec.channels, height, width)
    output = output_spec(role).name
    dynamic = None if role == "segmenter" else {spec.name: {0: "batch"}, output: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python ints in timm/smp
        torch.onnx.export(net, (dummy,), str(path), input_names=[spec.name],
                          output_names=[output], dynamic_axes=dynamic, opset_version=opset,
                          dynamo=False, do_constant_folding=fold,
                          training=(torch.onnx.TrainingMode.EVAL if fold
                                    else torch.onnx.TrainingMode.PRESERVE))
    import onnx

    onnx.checker.check_model(str(path))
    return path


def to_onnx(checkpoint: str | Path, path: str | Path, opset: int = OPSET) -> Path:
    """Export a training checkpoint (``best.pt``) to an fp32 ONNX file and return its path."""
    model, config = model_from_checkpoint(checkpoint)
    return export_module(model, config.role, config.input_spec(), path, opset)


@dataclass(frozen=True)
class ParityReport:
    """Result of :func:`check_parity`."""

    max_abs_diff: float
    mean_abs_diff: float
    n_inputs: int
    atol: float

    def to_dict(self) -> dict[str, float | int]:
        return {"max_abs_diff": self.max_abs_diff, "mean_abs_diff": self.mean_abs_diff,
                "n_inputs": self.n_inputs, "atol": self.atol}


def run_onnx(path: str | Path, inputs: np.ndarray, threads: int = 2) -> np.ndarray:
    """Run a one-input, one-output ONNX file on a batch, one sample at a time if needed."""
    from export.latency import cpu_session

    session = cpu_session(path, threads)
    name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    if isinstance(fixed, int) and fixed == 1:
        return np.concatenate([session.run(None, {name: x[None]})[0] for x in inputs])
    return session.run(None, {name: inputs})[0]


def check_parity(model: nn.Module, role: str, onnx_path: str | Path,
                 inputs: Sequence[np.ndarray] | np.ndarray,
                 atol: float = PARITY_ATOL) -> ParityReport:
    """Compare ONNX Runtime with PyTorch on ``inputs`` (C×H×W samples, e.g. real frames).

    Raises:
        ExportError: the largest absolute difference exceeds ``atol``.
    """
    batch = np.ascontiguousarray(np.stack(list(inputs)), dtype=np.float32)
    net = (_WithSigmoid(model) if role == "segmenter" else model).eval()
    with torch.no_grad():
        expected = np.concatenate([net(torch.from_numpy(x[None])).numpy() for x in batch])
    got = run_onnx(onnx_path, batch)
    diff = np.abs(got.astype(np.float32) - expected)
    report = ParityReport(float(diff.max()), float(diff.mean()), len(batch), atol)
    if not np.isfinite(got).all() or not np.isfinite(expected).all():
        raise ExportError(
            f"export parity: {onnx_path} or its PyTorch net gives NaN or infinite outputs on "
            f"{len(batch)} real inputs; expected finite probabilities. Fix: check the "
            "checkpoint's weights (e.g. a negative BatchNorm running variance)")
    if report.max_abs_diff > atol:
        raise ExportError(
            f"export parity: {onnx_path} differs from PyTorch by up to {report.max_abs_diff:.2e} "
            f"on {len(batch)} real inputs; expected <= {atol:.0e}. Fix: check for ops exported "
            "differently (resize modes, dynamic shapes) or raise --atol if this is expected"
        )
    return report


def real_inputs(config: TrainConfig, n: int = 8, split: str = "val") -> list[np.ndarray]:
    """``n`` real network inputs of ``split``, made by the runtime's code (frames or crops)."""
    from edge_sdk.manifest import PipelineParams
    from edge_sdk.preprocess import to_input
    from edge_sdk.roi import crop_lesion, expand_box
    from export.data import gt_crops, load_frames

    frames = load_frames(config.data, split)
    spec = config.input_spec()
    if config.role == "segmenter":
        step = max(1, len(frames) // n)
        return [to_input(f.image, spec) for f in frames[::step][:n]]
    params = PipelineParams()
    crops = gt_crops(frames, params)
    step = max(1, len(crops) // n)
    out = []
    for crop in crops[::step][:n]:
        image = frames[crop.frame].image
        out.append(crop_lesion(image, expand_box(crop.bbox, params.roi_margin, image.shape),
                               spec))
    return out
