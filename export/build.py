"""One target's bundle from two checkpoints: export, convert, choose, gate, write.

The steps are the small path-in/path-out functions of this package; this module only strings
them together for the ``bundle`` command and records what each step measured in the
manifest's provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.bundle import Bundle
from edge_sdk.manifest import PipelineParams
from export.bundle_writer import (
    NetFile,
    git_commit,
    tool_versions,
    utc_now,
    write_bundle,
)
from export.calibration import (
    DEFAULT_CALIBRATION_SAMPLES,
    classifier_calibration,
    segmenter_calibration,
)
from export.data import dataset_roots, load_frames, split_digest
from export.ensemble import Checkpoints, checkpoint_list, models_from_checkpoints
from export.errors import ExportError, GateError
from export.fidelity import DEFAULT_MAX_SHIFT, output_shift
from export.gate import DEFAULT_MAX_DROP, compare, evaluate_bundle
from export.latency import measure_latencies
from export.onnx_export import check_parity, export_module, output_spec, real_inputs
from export.quantize import TARGETS, quantize_int8, to_fp16
from export.train import load_checkpoint, predict_probability
from export.tune import tune_params

# precision name in the manifest for each conversion this module can make
_VARIANT_PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8-qdq": "int8", "int8-qop": "int8",
                      "int8-trt": "int8"}
_TARGET_VARIANTS = {"fp32": ("fp32",), "fp16": ("fp16", "fp32"),
                    "int8-cpu": ("fp32", "int8-qdq", "int8-qop"),
                    "int8-trt": ("int8-trt", "fp16", "fp32")}
# GPU targets: this CPU's ONNX Runtime timings do not predict TensorRT's (it runs s8 Q/DQ and
# fp16 slowly), so there the first faithful candidate in this preference order wins
_BY_PREFERENCE = ("fp16", "int8-trt")
# int8-cpu: conversions within this fraction of the fastest p50 count as tied (run-to-run noise
# here is ~5 %: the same two files measured 9.32/9.20 ms in one build, 16.15/16.98 in another);
# a tie goes to the first in _TARGET_VARIANTS order: fp32, then QDQ, which OpenVINO and other
# runtimes read (the shipped bundle: 13.6 ms per frame on OpenVINO, 17.1 on ORT), then ORT-only
# QOperator
TIE_MARGIN = 0.05


@dataclass
class BuildOptions:
    """Settings of :func:`build_bundle`."""

    target: str
    out: Path
    work: Path
    data: Path
    max_drop: float = DEFAULT_MAX_DROP
    max_output_shift: float = DEFAULT_MAX_SHIFT  # per-net p95 |Δ probability| (export.fidelity)
    fidelity_samples: int = 128
    calibration_frames: int = DEFAULT_CALIBRATION_SAMPLES
    min_calibration: int = 200  # refuse INT8 calibrated on fewer samples (tests lower it)
    segmenter_variant: str = "auto"  # auto | fp32 | int8-qdq | ...
    classifier_variant: str = "auto"
    params: PipelineParams = field(default_factory=PipelineParams)
    threads: int = 2
    latency_runs: int = 50
    gate_split: str = "val"
    tune: bool = True  # choose the post-processing parameters on val (export.tune)
    tta: bool = True  # let the search try the mirror passes (each costs a second net call)
    name: str = "busi-two-stage"


def _training_summary(checkpoints: list[Path]) -> dict[str, Any]:
    if len(checkpoints) > 1:
        members = [_member_summary(c) for c in checkpoints]
        return {"arch": "mean of " + " + ".join(m["arch"] for m in members),
                "ensemble": "mean of the members' logits", "members": members}
    return _member_summary(checkpoints[0])


def _member_summary(checkpoint: Path) -> dict[str, Any]:
    best = load_checkpoint(checkpoint)
    summary: dict[str, Any] = {"checkpoint": str(checkpoint), "arch": best["config"]["arch"],
                               "best_epoch": best["epoch"], "val": best["val"],
                               "config": best["config"]}
    history_path = checkpoint.parent / "history.json"
    if history_path.is_file():
        history = json.loads(history_path.read_text())
        summary["epochs_run"] = len(history)
        summary["train_seconds"] = round(sum(h["seconds"] for h in history), 1)
    return summary


def _convert(variant: str, fp32: Path, work: Path, role: str, calibration: Any,
             min_frames: int) -> Path:
    out = work / f"{role}.{variant}.onnx"
    if variant == "fp32":
        return fp32
    if variant == "fp16":
        return to_fp16(fp32, out)
    if variant == "int8-trt":
        return quantize_int8(fp32, out, "int8-trt", calibration(), "QDQ", min_frames)
    return quantize_int8(fp32, out, "int8-cpu", calibration(),
                         "QDQ" if variant == "int8-qdq" else "QOperator", min_frames)


def pick_fastest(candidates: Sequence[str], p50_ms: Mapping[str, float],
                 margin: float = TIE_MARGIN) -> str:
    """The first of ``candidates`` whose p50 is within ``margin`` of the fastest one's.

    Example:
        >>> pick_fastest(["fp32", "int8-qdq", "int8-qop"],
        ...              {"fp32": 16.4, "int8-qdq": 9.3, "int8-qop": 9.2})
        'int8-qdq'
        >>> pick_fastest(["fp32", "int8-qdq", "int8-qop"],
        ...              {"fp32": 21.0, "int8-qdq": 13.9, "int8-qop": 10.2})
        'int8-qop'
    """
    fastest = min(p50_ms[c] for c in candidates)
    return next(c for c in candidates if p50_ms[c] <= fastest * (1.0 + margin))


def _choose(role: str, variants: tuple[str, ...], forced: str, fp32: Path, work: Path,
            calibration: Any, shape: tuple[int, ...], val_inputs: list[np.ndarray],
            options: BuildOptions) -> tuple[str, Path, dict[str, Any]]:
    """Convert to every candidate precision; keep the fastest faithful one (or the forced one).

    Near-ties (:data:`TIE_MARGIN`) go to the first candidate in ``variants`` order.

    Faithful: fp32 always; a conversion when the 95th percentile of its per-sample probability
    shift on val inputs is within ``options.max_output_shift`` (:mod:`export.fidelity`).
    """
    if forced != "auto":
        if forced not in _VARIANT_PRECISION:
            raise ExportError(f"unknown {role} precision {forced!r}; expected 'auto' or one of "
                              f"{sorted(_VARIANT_PRECISION)}")
        variants = (forced,)
    files = {variant: _convert(variant, fp32, work, role, calibration, options.min_calibration)
             for variant in variants}
    latency = measure_latencies(files, shape, runs=options.latency_runs, threads=options.threads)
    meaning = output_spec(role).meaning
    shift = {variant: output_shift(fp32, path, val_inputs, meaning, options.threads)
             for variant, path in files.items() if variant != "fp32"}
    for variant in variants:
        note = (f", p95 output shift {shift[variant]['p95']:.4f}" if variant in shift else "")
        print(f"{role} {variant}: p50 {latency[variant]['p50_ms']:.2f} ms{note}", flush=True)
    # fp32 is always among the automatic candidates, so something is always faithful
    faithful = [v for v in variants if forced != "auto" or v not in shift
                or shift[v]["p95"] <= options.max_output_shift]
    within = f"p95 output shift <= {options.max_output_shift}"
    if forced != "auto":
        chosen, rule = forced, "forced"
    elif options.target in _BY_PREFERENCE:
        chosen, rule = faithful[0], f"first of {list(variants)} with {within}"
    else:
        chosen = pick_fastest(faithful, {v: latency[v]["p50_ms"] for v in faithful})
        rule = (f"fastest p50 among those with {within}; within {TIE_MARGIN:.0%} of it, the "
                f"first of {list(variants)}")
    return chosen, files[chosen], {"candidates_latency_ms": latency,
                                   "candidates_output_shift": shift, "chosen": chosen,
                                   "rule": rule}


def build_bundle(segmenter_ckpt: Checkpoints, classifier_ckpt: Checkpoints,
                 options: BuildOptions) -> Bundle:
    """Export both nets, convert them for ``options.target``, gate on val, write the bundle.

    Either net may be an ensemble: several checkpoints of one role export as one graph that
    averages their logits.

    Raises:
        ExportError: a step failed (parity, calibration, unknown target...).
        GateError: the converted bundle lost more than ``max_drop`` Dice or AUC on val; the
            bundle is still written, its manifest says ``gate.passed: false``.
    """
    if options.target not in TARGETS:
        raise ExportError(f"unknown target {options.target!r}; expected one of {list(TARGETS)}")
    seg_ckpt, cls_ckpt = checkpoint_list(segmenter_ckpt), checkpoint_list(classifier_ckpt)
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    seg_model, seg_cfg = models_from_checkpoints(seg_ckpt, "segmenter")
    cls_model, cls_cfg = models_from_checkpoints(cls_ckpt, "classifier")
    seg_cfg.data = cls_cfg.data = str(options.data)
    nets: dict[str, Any] = {}
    provenance: dict[str, Any] = {
        "target": options.target, "date": utc_now(), "git_commit": git_commit(),
        "training_data": ", ".join(f"{r.name} ({r})" for r in dataset_roots(options.data))
                         + ": split 'train' to fit, 'val' to select",
        "split_sha256": split_digest(options.data), "tools": tool_versions(),
        "training": {"segmenter": _training_summary(seg_ckpt),
                     "classifier": _training_summary(cls_ckpt)},
        "conversion": {},
    }
    train_frames = load_frames(options.data, "train")
    n = options.calibration_frames
    seg_spec, cls_spec = seg_cfg.input_spec(), cls_cfg.input_spec()
    seg_maps: list[np.ndarray] | None = None

    def seg_calibration() -> Any:
        return segmenter_calibration(train_frames, seg_spec, n)

    def cls_calibration() -> Any:
        nonlocal seg_maps
        if seg_maps is None:  # the classifier meets the segmenter's regions when deployed
            seg_maps = predict_probability(seg_model, train_frames, seg_spec)
        return classifier_calibration(train_frames, cls_spec, options.params, n, seg_maps)

    for role, model, cfg, calibration, forced in (
        ("segmenter", seg_model, seg_cfg, seg_calibration, options.segmenter_variant),
        ("classifier", cls_model, cls_cfg, cls_calibration, options.classifier_variant),
    ):
        fp32 = export_module(model, role, cfg.input_spec(), work / f"{role}.fp32.onnx")
        parity = check_parity(model, role, fp32, real_inputs(cfg, 8))
        print(f"{role} fp32 export parity: max |diff| {parity.max_abs_diff:.2e}", flush=True)
        spec = cfg.input_spec()
        shape = (1,) + tuple(spec.shape[1:])
        val_inputs = real_inputs(cfg, options.fidelity_samples)
        variant, path, record = _choose(role, _TARGET_VARIANTS[options.target], forced, fp32,
                                        work, calibration, shape, val_inputs, options)
        record["fp32_parity"] = parity.to_dict()
        if variant.startswith("int8"):
            record["calibration"] = {"samples_requested": n, "source": "train split via to_input" if
                                     role == "segmenter" else "train split crops via crop_lesion "
                                     "(ground-truth and segmenter regions)"}
        provenance["conversion"][role] = record
        nets[role] = NetFile(path, _VARIANT_PRECISION[variant], spec, output_spec(role))
        nets[role + "_fp32"] = NetFile(fp32, "fp32", spec, output_spec(role))

    params = options.params
    reference_note = {"note": "fp32 reference for the accuracy gate"}
    reference = write_bundle(work / "fp32-reference", nets["segmenter_fp32"],
                             nets["classifier_fp32"], params, reference_note, options.name)
    if not options.tune:
        provenance["pipeline_tuning"] = {"chosen": params.to_dict(),
                                         "rule": "given (not searched in this build)"}
    else:
        params, tuning = tune_params(reference.root, options.data, options.gate_split,
                                     base=params, threads=options.threads, tta=options.tta)
        provenance["pipeline_tuning"] = tuning
        print(f"pipeline parameters chosen on {options.gate_split}: {params.to_dict()}",
              flush=True)
        reference = write_bundle(work / "fp32-reference", nets["segmenter_fp32"],
                                 nets["classifier_fp32"], params, reference_note, options.name)
    ref_metrics = evaluate_bundle(reference.root, options.data, options.gate_split,
                                  options.threads)
    candidate = write_bundle(work / "candidate", nets["segmenter"], nets["classifier"],
                             params, {}, options.name)
    got_metrics = evaluate_bundle(candidate.root, options.data, options.gate_split,
                                  options.threads)
    gate: dict[str, Any] = {"split": options.gate_split, "fp32": ref_metrics,
                            "converted": got_metrics}
    error: GateError | None = None
    try:
        gate.update(compare(ref_metrics, got_metrics, options.max_drop))
    except GateError as exc:
        gate.update(exc.result, passed=False, max_drop=options.max_drop, error=str(exc))
        error = exc
    provenance["gate"] = gate
    provenance["metrics"] = {options.gate_split: got_metrics}
    bundle = write_bundle(options.out, nets["segmenter"], nets["classifier"], params,
                          provenance, options.name)
    if error is not None:
        raise error
    return bundle
