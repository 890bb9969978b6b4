"""Q/DQ placement for the ``int8-trt`` target: ONNX Runtime's QDQ quantizer vs NVIDIA's
TensorRT Model Optimizer (``nvidia-modelopt``, ``modelopt.onnx.quantization``), on CPU.

Quantizes the shipped fp32 classifier both ways, calibrated on BUSI train crops made by the
runtime's code, and reports (1) which op types get quantized inputs (TensorRT's placement guide
asks for Q/DQ on weighted ops and residual adds only, and lets the builder keep pooling,
resize and concat in the precision around them), (2) the per-crop probability shift against
fp32 on the val crops (the toolchain's fidelity check, tolerance 0.05 at p95), and (3) val AUC
of the ground-truth crops. CPU only: the accuracy numbers are ONNX Runtime's, not TensorRT's.

ModelOpt's ``[onnx]`` extra pins other onnx/onnxruntime-gpu versions than this project's, so it
is loaded from a separate folder (``--modelopt-path``), not installed into the environment:

    pip install --target /tmp/mo --no-deps nvidia-modelopt==0.47.0 onnx_graphsurgeon onnxslim \
        polygraphy PuLP omegaconf pydantic pydantic_core annotated-types typing-inspection \
        nvidia-ml-py rich markdown-it-py mdurl regex lief cppimport Mako pybind11 ninja
    python benchmarks/int8_placement.py --modelopt-path /tmp/mo
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def quantized_op_types(path: Path) -> dict[str, int]:
    """Op type → number of nodes of that type with at least one input from a DequantizeLinear."""
    import onnx

    graph = onnx.load(str(path)).graph
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    counts: collections.Counter[str] = collections.Counter()
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") and \
                any(i in dq_outputs for i in node.input):
            counts[node.op_type] += 1
    return dict(sorted(counts.items()))


def op_types(path: Path) -> dict[str, int]:
    import onnx

    return dict(sorted(collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node).items()))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modelopt-path", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "busi")
    parser.add_argument("--calibration", type=int, default=512)
    parser.add_argument("--method", default="max", help="ModelOpt calibration: max or entropy")
    parser.add_argument("--out", type=Path, default=None, help="folder for the quantized files")
    parser.add_argument("--bundle", type=Path, default=REPO / "edge_sdk" / "bundles" / "default",
                        help="bundle whose fp32 classifier is quantized (default: the shipped one)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    from edge_sdk import load_bundle
    from export.calibration import classifier_calibration
    from export.data import gt_crops, load_frames
    from export.fidelity import output_shift
    from export.onnx_export import run_onnx
    from export.quantize import quantize_int8

    bundle = load_bundle(args.bundle)
    spec, params = bundle.manifest.classifier, bundle.manifest.pipeline
    fp32 = bundle.model_path("classifier")
    train, val = load_frames(args.data, "train"), load_frames(args.data, "val")
    calibration = [s[spec.input.name] for s in classifier_calibration(
        train, spec.input, params, n=args.calibration)]
    val_crops = [s[spec.input.name][0] for s in classifier_calibration(
        val, spec.input, params, n=10**6, seed=0)]
    # the same order as classifier_calibration's permutation, for the labels
    order = np.random.default_rng(0).permutation(len(gt_crops(val, params)))
    labels = np.array([gt_crops(val, params)[int(i)].target for i in order])
    out = args.out or Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)

    ort_path = out / "classifier.ort-qdq.onnx"
    if not ort_path.is_file():  # deterministic for the same data: reuse a previous run's
        quantize_int8(fp32, ort_path, "int8-trt", ({spec.input.name: x} for x in calibration))
    sys.path.insert(0, str(args.modelopt_path))
    # ModelOpt asks TensorRT about custom layers when `import tensorrt` works; the type stubs
    # (tensorrt-stubs, for mypy) import but have no Logger: make the import fail instead
    sys.modules["tensorrt"] = None  # type: ignore[assignment]
    from modelopt.onnx.quantization import quantize

    mo_path = out / "classifier.modelopt.onnx"
    # ModelOpt rewrites its input file in place (shape inference): hand it a copy, never the
    # bundle's own file, whose sha256 the manifest pins
    source = out / "classifier.fp32.onnx"
    shutil.copyfile(fp32, source)
    quantize(str(source), quantize_mode="int8", calibration_data={spec.input.name: np.concatenate(calibration)},
             calibration_method=args.method, calibration_eps=["cpu"], high_precision_dtype="fp32",
             output_path=str(mo_path), log_level="WARNING")

    report: dict[str, object] = {"fp32 op types": op_types(fp32),
                                 "calibration crops": len(calibration), "val crops": len(val_crops)}
    batch = np.stack(val_crops).astype(np.float32)
    for name, path in (("fp32", fp32), ("onnxruntime QDQ", ort_path), ("modelopt", mo_path)):
        logits = run_onnx(path, batch).reshape(len(batch), -1)[:, 0]
        entry: dict[str, object] = {"val AUC (gt crops)": round(auc(logits, labels), 4)}
        if name != "fp32":
            entry["ops with quantized inputs"] = quantized_op_types(path)
            entry["shift vs fp32"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in
                                      output_shift(fp32, path, val_crops, "malignancy_logit").items()}
        report[name] = entry
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
