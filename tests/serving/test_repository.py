"""``edge-sdk export-triton``: repositories whose configs Triton's own protobuf accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_sdk.bundle import default_bundle_path, load_bundle
from edge_sdk.cli import main
from edge_sdk.errors import ConfigError
from edge_sdk.serving import wire
from edge_sdk.serving.repository import (
    LEAF_MODELS,
    export_repository,
    parse_config,
    validate_repository,
)


@pytest.mark.parametrize("kind", ["onnxruntime", "tensorrt"])
def test_export_writes_both_repositories(tiny_bundle_dir: Path, tmp_path: Path, kind: str) -> None:
    written = export_repository(tiny_bundle_dir, tmp_path / "repo", kind=kind, instances=2)
    assert set(written) == {kind, "python"}
    bundle = load_bundle(tiny_bundle_dir)
    for repo_kind, root in written.items():
        configs = validate_repository(root, repo_kind)
        assert set(configs) == {wire.MODEL_NAME, *LEAF_MODELS.values()}
        pipeline = configs[wire.MODEL_NAME]
        assert pipeline.backend == "python" and pipeline.max_batch_size == 8
        assert pipeline.instance_group[0].count == 2
        assert pipeline.dynamic_batching.max_queue_delay_microseconds == 1000
        assert [o.name for o in pipeline.output] == [name for name, _, _ in wire.OUTPUTS]
        params = {k: v.string_value for k, v in pipeline.parameters.items()}
        assert params["edge_sdk.bundle_digest"] == bundle.digest
        segmenter = configs["edge_sdk_segmenter"]
        assert list(segmenter.input[0].dims) == [1, 1, 128, 128]
        assert list(segmenter.output[0].dims) == [1, 1, 128, 128]
        assert list(configs["edge_sdk_classifier"].input[0].dims) == [-1, 1, 64, 64]
        assert (root / wire.MODEL_NAME / "1" / "bundle" / "manifest.json").read_bytes() == (
            tiny_bundle_dir / "manifest.json").read_bytes()
    trt = configs_of(written[kind])["edge_sdk_segmenter"]
    if kind == "tensorrt":
        assert trt.platform == "tensorrt_plan"
        assert "build-engine" in (written[kind] / "BUILD_ENGINES.md").read_text()
    else:
        assert trt.backend == "onnxruntime"
    assert configs_of(written["python"])["edge_sdk_segmenter"].backend == "python"
    summary = json.loads((tmp_path / "repo" / "edge_sdk_repository.json").read_text())
    assert summary["bundle_digest"] == bundle.digest


def configs_of(root: Path) -> dict:
    return {p.parent.name: parse_config(p) for p in root.glob("*/config.pbtxt")}


def test_shipped_bundle_exports(tmp_path: Path) -> None:
    written = export_repository(None, tmp_path / "repo")
    configs = validate_repository(written["onnxruntime"], "onnxruntime")
    assert list(configs["edge_sdk_segmenter"].input[0].dims) == [1, 1, 256, 256]
    assert list(configs["edge_sdk_classifier"].input[0].dims) == [-1, 1, 160, 160]
    assert configs["edge_sdk_classifier"].parameters["intra_op_thread_count"].string_value == "1"
    assert (written["onnxruntime"] / "edge_sdk_segmenter" / "1" / "model.onnx").stat().st_size == (
        default_bundle_path() / "segmenter.int8.onnx").stat().st_size


@pytest.mark.parametrize(("edit", "error"), [
    (lambda text: text.replace("max_batch_size", "max_batch_sise"), "not a valid Triton model"),
    (lambda text: text.replace("TYPE_UINT8", "TYPE_UINT7"), "not a valid Triton model"),
    (lambda text: text.replace('name: "edge_sdk_pipeline"', 'name: "other"'), "differs from"),
    (lambda text: text.replace('"edge_sdk_segmenter"', '"missing_model"'), "not in the repository"),
])
def test_validation_catches_a_broken_config(tiny_bundle_dir: Path, tmp_path: Path, edit,
                                            error: str) -> None:
    root = export_repository(tiny_bundle_dir, tmp_path / "repo")["python"]
    config = root / wire.MODEL_NAME / "config.pbtxt"
    config.write_text(edit(config.read_text()))
    with pytest.raises(ConfigError, match=error):
        validate_repository(root)


def test_validation_wants_the_model_files(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    root = export_repository(tiny_bundle_dir, tmp_path / "repo")["onnxruntime"]
    (root / "edge_sdk_classifier" / "1" / "model.onnx").unlink()
    with pytest.raises(ConfigError, match="lacks model.onnx"):
        validate_repository(root)


def test_export_triton_command(tiny_bundle_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-triton", str(tiny_bundle_dir), str(tmp_path / "out"), "--kind",
                 "tensorrt", "--instances", "3"]) == 0
    out = capsys.readouterr().out
    assert "tensorrt:" in out and "python:" in out and "ModelConfig" in out
    assert parse_config(tmp_path / "out" / "python" / wire.MODEL_NAME / "config.pbtxt"
                        ).instance_group[0].count == 3


def test_export_triton_refuses_an_unknown_kind(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="onnxruntime or tensorrt"):
        export_repository(tiny_bundle_dir, tmp_path / "out", kind="python")
