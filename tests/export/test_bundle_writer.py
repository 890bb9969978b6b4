"""Checkpoints → gated bundle → the runtime's loader and pipeline (the full toolchain, tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edge_sdk.bundle import load_bundle
from edge_sdk.pipeline import Pipeline
from edge_sdk.testing import synthetic_frame
from export.build import BuildOptions, build_bundle
from export.cli import main
from export.errors import GateError


def _options(tmp_path: Path, data: Path, target: str, **kw) -> BuildOptions:
    return BuildOptions(target=target, out=tmp_path / target, work=tmp_path / f"{target}.work",
                        data=data, min_calibration=1, latency_runs=3, threads=1, **kw)


def test_int8_cpu_bundle_round_trip(tiny_checkpoints, synthetic_busi: Path, tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    bundle = build_bundle(seg, cls, _options(tmp_path, synthetic_busi, "int8-cpu",
                                             max_drop=1.0, segmenter_variant="int8-qdq"))
    loaded = load_bundle(bundle.root)
    manifest = loaded.manifest
    assert manifest.segmenter.precision == "int8"
    assert manifest.classifier.precision in ("fp32", "int8")
    assert manifest.segmenter.input.shape == (1, 1, 64, 64)
    assert manifest.classifier.input.shape == (-1, 1, 32, 32)
    prov = manifest.provenance
    for key in ("git_commit", "split_sha256", "tools", "training", "gate", "metrics", "date",
                "pipeline_tuning"):
        assert key in prov, key
    assert prov["gate"]["passed"] and set(prov["gate"]["metrics"]) == {"dice", "auc"}
    assert manifest.pipeline.to_dict() == prov["pipeline_tuning"]["chosen"]
    # the mirror passes were tried on val, each kept or not on the record
    tuning = prov["pipeline_tuning"]
    assert {t["segmenter_hflip"] for t in tuning["segmentation_trials"]} == {False, True}
    (classifier_trial,) = tuning["tta_trials"]
    assert manifest.pipeline.classifier_hflip == classifier_trial["kept"]
    latency = prov["conversion"]["classifier"]["candidates_latency_ms"]
    assert set(latency) == {"fp32", "int8-qdq", "int8-qop"}
    shift = prov["conversion"]["classifier"]["candidates_output_shift"]
    assert set(shift) == {"int8-qdq", "int8-qop"} and shift["int8-qop"]["samples"] > 0
    with Pipeline(loaded) as pipeline:
        result = pipeline.process(synthetic_frame(120, 160, ((80, 60, 20, 15),)))
    assert result.mask.shape == (120, 160)
    json.dumps(prov)  # JSON-ready


def test_unfaithful_conversions_are_not_chosen(tiny_checkpoints, synthetic_busi: Path,
                                              tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    # no conversion can meet a negative tolerance: both targets fall back to fp32 for both nets
    for target in ("int8-cpu", "int8-trt"):
        bundle = build_bundle(seg, cls, _options(tmp_path, synthetic_busi, target,
                                                 max_output_shift=-1.0, tune=False))
        manifest = bundle.manifest
        assert manifest.segmenter.precision == manifest.classifier.precision == "fp32"
        assert "output shift" in manifest.provenance["conversion"]["segmenter"]["rule"]
    # a loose tolerance: the GPU target keeps its first preference, whatever the CPU timings
    bundle = build_bundle(seg, cls, _options(tmp_path, synthetic_busi, "int8-trt",
                                             max_output_shift=1.0, max_drop=1.0,
                                             tune=False))
    assert bundle.manifest.segmenter.precision == bundle.manifest.classifier.precision == "int8"


def test_failed_gate_exits_non_zero_and_is_recorded(tiny_checkpoints, synthetic_busi: Path,
                                                    tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    with pytest.raises(GateError, match="dropped by"):
        build_bundle(seg, cls, _options(tmp_path, synthetic_busi, "fp16", max_drop=-1.0,
                                        tune=False))
    manifest = json.loads((tmp_path / "fp16" / "manifest.json").read_text())
    assert manifest["provenance"]["gate"]["passed"] is False
    assert set(manifest["provenance"]["gate"]["metrics"]) == {"dice", "auc"}
    assert manifest["models"]["segmenter"]["precision"] == "fp16"
    out = tmp_path / "cli"
    code = main(["bundle", "--segmenter", str(seg), "--classifier", str(cls), "--target", "fp32",
                 "--out", str(out), "--data", str(synthetic_busi), "--max-drop", "-1",
                 "--calibration-frames", "1", "--no-tune", "--threads", "1"])
    assert code == 3


def test_make_default_refuses_ungated_bundle(tiny_bundle_dir: Path, tmp_path: Path,
                                             capsys) -> None:
    assert main(["make-default", str(tiny_bundle_dir), "--dest", str(tmp_path / "d")]) == 1
    assert "no passed accuracy gate" in capsys.readouterr().err


def test_params_from_another_bundle(tiny_checkpoints, synthetic_busi: Path, tmp_path: Path,
                                    tiny_bundle_dir: Path) -> None:
    seg, cls = tiny_checkpoints
    code = main(["bundle", "--segmenter", str(seg), "--classifier", str(cls), "--target", "fp32",
                 "--out", str(tmp_path / "b"), "--data", str(synthetic_busi),
                 "--params-from", str(tiny_bundle_dir), "--threads", "1"])
    assert code == 0
    manifest = load_bundle(tmp_path / "b").manifest
    assert manifest.pipeline == load_bundle(tiny_bundle_dir).manifest.pipeline
    assert manifest.provenance["pipeline_tuning"]["rule"].startswith("given")
