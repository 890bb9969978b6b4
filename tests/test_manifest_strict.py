"""The strict manifest: every tampered variant measured in the robustness review is refused
with one line naming the field path, the value, what was expected and the fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import BundleError, load_bundle
from edge_sdk.bundle import MANIFEST_NAME, default_bundle_path
from edge_sdk.manifest import InputSpec, Manifest, PipelineParams

SEG, CLS = ("models", "segmenter"), ("models", "classifier")


def _at(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        data = data[key]
    return data


@pytest.fixture()
def bundle_copy(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))


def _write(root: Path, data: Any) -> None:
    (root / MANIFEST_NAME).write_text(json.dumps(data))


def _load_error(root: Path) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(root)
    message = str(info.value)
    assert "\n" not in message and "Fix:" in message, message
    return message


def _set(path: tuple[str, ...], key: str, value: Any) -> Any:
    return lambda d: _at(d, *path).__setitem__(key, value)


def _pop(path: tuple[str, ...], key: str) -> Any:
    return lambda d: _at(d, *path).pop(key)


# (change, the path and words the message must carry): each row is one case of the review
TAMPERED = [
    # loaded silently before, and changed results
    (_set((*SEG, "input", "normalization"), "scale", float("inf")), "normalization.scale"),
    (_set((*CLS, "input", "normalization"), "std", [-1.0]), "normalization.std[0]' is -1.0"),
    (_set((*CLS, "input", "normalization"), "std", [0.0]), "normalization.std[0]' is 0.0"),
    (_pop((), "pipeline"), "'manifest.pipeline' is missing"),
    (_pop((*CLS, "input"), "normalization"), "'models.classifier.input.normalization' is missing"),
    (_pop(("pipeline",), "class_names"), "'pipeline.class_names' is missing"),
    (_pop(("pipeline",), "positive_class"), "'pipeline.positive_class' is missing"),
    (_pop(("pipeline",), "decision_threshold"), "'pipeline.decision_threshold' is missing"),
    (_set((*CLS, "input"), "shape", [-1, 1, "160", 160]), "input.shape[2]' is '160'"),
    (_set((*CLS, "input"), "shape", [-1, 1, 160.0, 160]), "input.shape[2]' is 160.0"),
    (_set((*CLS, "input"), "shape", [-1, True, 160, 160]), "input.shape[1]' is True"),
    (_set((), "schema_version", True), "schema_version True is not supported"),
    (_set(("pipeline",), "max_lesions", 1e9), "'pipeline.max_lesions' is 1000000000.0"),
    (_set(("pipeline",), "max_lesions", 10**9), "an integer in [1, 64]"),
    (_set(("pipeline",), "decision_threshold", 1.5), "'pipeline.decision_threshold' is 1.5"),
    (_set(("pipeline",), "segmenter_hflip", 1), "'pipeline.segmenter_hflip' is 1"),
    # tracebacks before
    (_set((*CLS, "input"), "shape", "1,1,160,160"), "input.shape' is '1,1,160,160'"),
    (_set((*CLS, "input", "normalization"), "std", "0.2"), "normalization.std' is '0.2'"),
    (_set((*CLS, "input", "normalization"), "scale", "0.5"), "normalization.scale' is '0.5'"),
    (_set(SEG, "file", "seg\x00.onnx"), "'models.segmenter.file'"),
    (_set(("pipeline",), "max_lesions", 2.5), "'pipeline.max_lesions' is 2.5"),
    # unknown keys, everywhere but provenance and artifact meta
    (_set((), "extra", 1), "unknown key 'manifest.extra'"),
    (_set(SEG, "note", "x"), "unknown key 'models.segmenter.note'"),
    (_set(("models",), "detector", {}), "unknown key 'models.detector'"),
    (_set((*SEG, "input"), "layout", "NCHW"), "unknown key 'models.segmenter.input.layout'"),
    (_set((*SEG, "input", "normalization"), "gamma", 1), "'models.segmenter.input.normalization.gamma'"),
    # messages that named no field or misled
    (_set(("pipeline",), "class_names", "benign,malignant"), "'pipeline.class_names' is 'benign,malignant'"),
    (_set(("pipeline",), "class_names", ["a", "a"]), "two different names"),
    (_set(("pipeline",), "segmentation_threshold", "0.4"), "'pipeline.segmentation_threshold' is '0.4'"),
    (_set(SEG, "outputs", []), "'models.segmenter.outputs' is []"),
    (_set(SEG, "artifacts", [{"kind": "onnx", "file": "x.onnx"}]), "'models.segmenter.artifacts[0].sha256' is missing"),
    (_set(SEG, "artifacts", [{"kind": "engine", "file": "x", "sha256": "0" * 64}]), "artifacts[0].kind' is 'engine'"),
    (_set((), "provenance", []), "'provenance' is []"),
    (_set((), "name", ""), "'name' is ''"),
]


@pytest.mark.parametrize(("change", "words"), TAMPERED)
def test_tampered_manifest_is_refused_naming_the_field(bundle_copy: Path, change: Any,
                                                       words: str) -> None:
    data = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    change(data)
    _write(bundle_copy, data)
    assert words in _load_error(bundle_copy)


@pytest.mark.parametrize(("text", "words"), [
    ('{"schema_version": 1, "schema_version": 1}', "appears twice"),
    ("[" * 100_000 + "]" * 100_000, "levels deep"),
    ("[" * 40 + "]" * 40, "40 or more levels deep"),
    (b"\xff\xfe{}", "not valid UTF-8 JSON"),
    ("", "not valid UTF-8 JSON"),
    ("[]", "top level"),
])
def test_raw_json_is_bounded_and_strict(bundle_copy: Path, text: str | bytes, words: str) -> None:
    raw = text if isinstance(text, bytes) else text.encode()
    (bundle_copy / MANIFEST_NAME).write_bytes(raw)
    assert words in _load_error(bundle_copy)


def test_nan_scale_written_by_json_is_refused(bundle_copy: Path) -> None:
    data = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    _at(data, *SEG, "input", "normalization")["scale"] = float("nan")
    (bundle_copy / MANIFEST_NAME).write_text(json.dumps(data))  # writes the NaN literal
    assert "'models.segmenter.input.normalization.scale' is nan" in _load_error(bundle_copy)


def test_manifest_larger_than_the_bound_is_refused_before_reading(bundle_copy: Path) -> None:
    with open(bundle_copy / MANIFEST_NAME, "ab") as handle:
        handle.truncate(9 << 20)
    assert "bytes; expected at most" in _load_error(bundle_copy)


def test_manifest_symlinked_from_outside_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    shutil.move(bundle_copy / MANIFEST_NAME, outside)
    (bundle_copy / MANIFEST_NAME).symlink_to(outside)
    assert "symbolic link" in _load_error(bundle_copy)


def test_manifest_that_is_a_directory_or_fifo_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).unlink()
    os.mkfifo(bundle_copy / MANIFEST_NAME)  # reading a FIFO would block forever
    assert "not a regular file" in _load_error(bundle_copy)


@pytest.mark.parametrize("where", ["manifest", "model", "bundle"])
def test_symlink_loops_are_refused(bundle_copy: Path, tmp_path: Path, where: str) -> None:
    if where == "manifest":
        (bundle_copy / MANIFEST_NAME).unlink()
        (bundle_copy / MANIFEST_NAME).symlink_to(bundle_copy / MANIFEST_NAME)
        assert "symbolic link" in _load_error(bundle_copy)
    elif where == "model":
        (bundle_copy / "segmenter.onnx").unlink()
        (bundle_copy / "segmenter.onnx").symlink_to(bundle_copy / "segmenter.onnx")
        assert "segmenter" in _load_error(bundle_copy)
    else:
        loop = tmp_path / "loop"
        loop.symlink_to(loop)
        assert "cannot be resolved" in _load_error(loop)


def test_to_dict_round_trips_through_the_strict_parser(tiny_bundle_dir: Path) -> None:
    manifest = load_bundle(tiny_bundle_dir).manifest
    data = json.loads(json.dumps(manifest.to_dict()))
    assert Manifest.from_dict(data) == manifest


def test_shipped_bundle_loads_and_round_trips() -> None:
    bundle = load_bundle(default_bundle_path())
    data = json.loads((default_bundle_path() / MANIFEST_NAME).read_text())
    # the tuned clinical settings are read as written, never replaced by defaults
    assert bundle.manifest.pipeline.to_dict() == data["pipeline"]
    assert Manifest.from_dict(data).to_dict() == data


def test_constructors_stay_compatible_and_accept_numpy_numbers() -> None:
    import numpy as np

    spec = InputSpec(name="image", shape=(1, 1, np.int64(64), 64), scale=np.float32(0.5))
    assert spec.shape == (1, 1, 64, 64) and type(spec.shape[2]) is int
    params = PipelineParams(decision_threshold=np.float64(0.3), max_lesions=np.int32(3))
    assert params.decision_threshold == 0.3 and type(params.max_lesions) is int


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"scale": float("nan")}, "normalization.scale' is nan"),
    ({"std": (-1.0,)}, "normalization.std' is (-1.0,)"),
    ({"shape": (1, 1, 64.0, 64)}, "a list of integers"),
    ({"shape": (1, True, 64, 64)}, "a list of integers"),
])
def test_input_spec_constructor_is_as_strict_as_the_parser(kwargs: dict[str, Any],
                                                          words: str) -> None:
    values = {"name": "image", "shape": (1, 1, 64, 64), **kwargs}
    with pytest.raises(BundleError, match="Fix:") as info:
        InputSpec(**values)
    assert words in str(info.value)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"max_lesions": 2.5}, "'pipeline.max_lesions' is 2.5"),
    ({"max_lesions": True}, "'pipeline.max_lesions' is True"),
    ({"class_names": "benign,malignant"}, "'pipeline.class_names' is 'benign,malignant'"),
    ({"segmentation_threshold": float("nan")}, "'pipeline.segmentation_threshold' is nan"),
])
def test_pipeline_params_constructor_is_strict(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(BundleError) as info:
        PipelineParams(**kwargs)
    assert words in str(info.value)
