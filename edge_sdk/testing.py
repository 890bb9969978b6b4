"""Tiny but real ONNX models, a test bundle and synthetic frames, for tests and demos.

The models are built with ``onnx.helper`` (the ``dev`` extra) and run by real ONNX Runtime:

- the segmenter marks dark blobs: ``sigmoid(gain * (threshold - avgpool5x5(x)))``;
- the classifier scores a crop by its mean intensity: darker crops are "more malignant".

They are not medical models. They exist so that every part of the pipeline can be tested end to
end, and so that the SDK's own overhead can be timed with nets that cost almost nothing.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.bundle import Bundle, write_bundle_manifest
from edge_sdk.manifest import InputSpec, Manifest, ModelSpec, OutputSpec, PipelineParams

OPSET = 17
IR_VERSION = 9  # readable by the older ONNX Runtime builds found on JetPack images
_PLACEHOLDER_SHA = "0" * 64


def _onnx() -> Any:
    return import_optional("onnx", "dev", "Building the tiny test models")


def _save(graph: Any, path: str | Path) -> Path:
    onnx = _onnx()
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="edge_sdk.testing"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def tiny_segmenter_onnx(path: str | Path, size: int = 128, threshold: float = 0.3,
                        gain: float = 20.0) -> Path:
    """Write a segmenter ``image[1,1,size,size] -> lesion_prob[1,1,size,size]``."""
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    nodes = [
        helper.make_node("AveragePool", ["image"], ["smooth"], kernel_shape=[5, 5],
                         pads=[2, 2, 2, 2], count_include_pad=0),
        helper.make_node("Sub", ["t", "smooth"], ["diff"]),
        helper.make_node("Mul", ["diff", "k"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["lesion_prob"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_segmenter",
        [helper.make_tensor_value_info("image", tp.FLOAT, [1, 1, size, size])],
        [helper.make_tensor_value_info("lesion_prob", tp.FLOAT, [1, 1, size, size])],
        initializer=[helper.make_tensor("t", tp.FLOAT, [], [threshold]),
                     helper.make_tensor("k", tp.FLOAT, [], [gain])],
    )
    return _save(graph, path)


def tiny_classifier_onnx(path: str | Path, size: int = 64, batch: int | str = "batch") -> Path:
    """Write a classifier ``crop[N,1,size,size] -> probs[N,2]`` (benign, malignant).

    ``batch`` is a symbolic name (dynamic batch) or a fixed batch size.
    """
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    nodes = [
        helper.make_node("GlobalAveragePool", ["crop"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["feat"], axis=1),
        helper.make_node("Gemm", ["feat", "w", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("crop", tp.FLOAT, [batch, 1, size, size])],
        [helper.make_tensor_value_info("probs", tp.FLOAT, [batch, 2])],
        initializer=[helper.make_tensor("w", tp.FLOAT, [1, 2], [6.0, -6.0]),
                     helper.make_tensor("b", tp.FLOAT, [2], [-1.5, 1.5])],
    )
    return _save(graph, path)


def make_tiny_bundle(root: str | Path, seg_size: int = 128, cls_size: int = 64,
                     pipeline: PipelineParams | None = None) -> Bundle:
    """Write a complete, verified bundle of the two tiny models into ``root``.

    Example:
        >>> import tempfile
        >>> bundle = make_tiny_bundle(tempfile.mkdtemp())
        >>> bundle.manifest.segmenter.input.shape
        (1, 1, 128, 128)
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tiny_segmenter_onnx(root / "segmenter.onnx", seg_size)
    tiny_classifier_onnx(root / "classifier.onnx", cls_size)
    manifest = Manifest(
        name="tiny-test",
        version="0.0.1",
        segmenter=ModelSpec(
            role="segmenter", file="segmenter.onnx", sha256=_PLACEHOLDER_SHA, precision="fp32",
            input=InputSpec(name="image", shape=(1, 1, seg_size, seg_size), color="gray"),
            outputs=(OutputSpec("lesion_prob", "lesion_probability"),),
        ),
        classifier=ModelSpec(
            role="classifier", file="classifier.onnx", sha256=_PLACEHOLDER_SHA, precision="fp32",
            input=InputSpec(name="crop", shape=(-1, 1, cls_size, cls_size), color="gray"),
            outputs=(OutputSpec("probs", "class_probabilities"),),
        ),
        pipeline=pipeline or PipelineParams(),
        provenance={
            "training_data": "none: hand-built test models (edge_sdk.testing), not medical models",
            "metrics": {},
            "tool_versions": {"onnx": _onnx().__version__, "opset": OPSET},
            "date": datetime.date.today().isoformat(),
        },
    )
    return write_bundle_manifest(root, manifest)


def synthetic_frame(
    height: int = 240,
    width: int = 320,
    lesions: Sequence[tuple[int, int, int, int]] = ((160, 120, 30, 20),),
    seed: int = 0,
    color: bool = False,
) -> np.ndarray:
    """A speckled bright frame with dark elliptical "lesions" at known places.

    Args:
        height: Frame height.
        width: Frame width.
        lesions: Ellipses as (center x, center y, semi-axis x, semi-axis y) in pixels.
        seed: Seed of the speckle noise; the same seed gives the same frame.
        color: Return H×W×3 BGR instead of H×W.
    """
    rng = np.random.default_rng(seed)
    frame = rng.normal(170.0, 12.0, (height, width))
    dark = np.zeros((height, width), np.uint8)
    for cx, cy, ax, ay in lesions:
        cv2.ellipse(dark, (cx, cy), (ax, ay), 0, 0, 360, 1, thickness=-1)
    frame[dark > 0] = rng.normal(30.0, 6.0, int(dark.sum()))
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if color else frame


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edge_sdk.testing OUT_DIR``: write the tiny test bundle and sample frames."""
    parser = argparse.ArgumentParser(prog="python -m edge_sdk.testing", description=main.__doc__)
    parser.add_argument("out", type=Path, help="folder for the bundle (and frames/ beside it)")
    parser.add_argument("--frames", type=int, default=8, help="sample frames to write")
    args = parser.parse_args(argv)
    bundle = make_tiny_bundle(args.out / "bundle")
    frames_dir = args.out / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for i in range(args.frames):
        cx = 80 + 20 * i
        frame = synthetic_frame(lesions=((cx, 120, 30, 20),) if i % 4 != 3 else (), seed=i)
        cv2.imwrite(str(frames_dir / f"frame_{i:03d}.png"), frame)
    print(f"bundle: {bundle.root}\nframes: {frames_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
