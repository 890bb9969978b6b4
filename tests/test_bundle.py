"""Bundle loading: schema checks and tamper detection before any model is opened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import BundleError, load_bundle, write_bundle_manifest
from edge_sdk.bundle import MANIFEST_NAME, default_bundle_path, file_sha256


@pytest.fixture()
def bundle_copy(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))


def _edit_manifest(root: Path, change: Any) -> None:
    path = root / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_loads_and_verifies(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    assert bundle.manifest.segmenter.sha256 == file_sha256(bundle_copy / "segmenter.onnx")
    assert len(bundle.digest) == 64
    assert bundle.model_path("classifier") == bundle_copy.resolve() / "classifier.onnx"


def test_missing_file_names_it(bundle_copy: Path) -> None:
    (bundle_copy / "classifier.onnx").unlink()
    with pytest.raises(BundleError, match=r"classifier file 'classifier.onnx' is missing"):
        load_bundle(bundle_copy)


def test_truncated_file_reports_expected_and_actual(bundle_copy: Path) -> None:
    path = bundle_copy / "segmenter.onnx"
    expected = file_sha256(path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BundleError) as info:
        load_bundle(bundle_copy)
    message = str(info.value)
    assert "segmenter.onnx" in message and expected in message and file_sha256(path) in message
    assert "Fix:" in message


def test_altered_file_detected(bundle_copy: Path) -> None:
    path = bundle_copy / "classifier.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="truncated or was altered"):
        load_bundle(bundle_copy)


def test_unknown_schema_version(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda d: d.update(schema_version=99))
    with pytest.raises(BundleError, match=r"schema_version 99 is not supported.*expected one of \[1\]"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("bad_path", ["../outside.onnx", "/etc/passwd", "sub/../../x.onnx"])
def test_path_escaping_bundle_refused(bundle_copy: Path, bad_path: str) -> None:
    _edit_manifest(bundle_copy, lambda d: d["models"]["segmenter"].update(file=bad_path))
    with pytest.raises(BundleError, match="outside the bundle directory|is absolute"):
        load_bundle(bundle_copy)


def test_symlink_escaping_bundle_refused(bundle_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(bundle_copy / "segmenter.onnx", outside)
    (bundle_copy / "segmenter.onnx").unlink()
    (bundle_copy / "segmenter.onnx").symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle directory"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.pop("models"), r"'manifest.models' is missing"),
        (lambda d: d["models"]["segmenter"].update(precision="int4"), r"precision' is 'int4'"),
        (lambda d: d["models"]["segmenter"]["input"].update(color="hsv"), r"color' is 'hsv'"),
        (lambda d: d["models"]["classifier"]["input"].update(shape=[1, 3, 64]),
         r"input.shape' is \[1, 3, 64\]; expected a list of 4"),
        (lambda d: d["models"]["classifier"].update(sha256="abc"), "64 lowercase hex"),
        (lambda d: d["pipeline"].update(max_lesions=0), r"pipeline.max_lesions' is 0"),
        (lambda d: d["pipeline"].update(colour="x"), r"unknown key 'pipeline.colour'"),
        (lambda d: d["pipeline"].update(positive_class="cancer"), "positive_class"),
    ],
)
def test_malformed_manifest(bundle_copy: Path, change: Any, match: str) -> None:
    _edit_manifest(bundle_copy, change)
    with pytest.raises(BundleError, match=match):
        load_bundle(bundle_copy)


def test_not_json(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid UTF-8 JSON"):
        load_bundle(bundle_copy)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is not a directory"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path)


def test_write_manifest_round_trip(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    (bundle_copy / "classifier.onnx").write_bytes((bundle_copy / "classifier.onnx").read_bytes())
    again = write_bundle_manifest(bundle_copy, bundle.manifest)
    assert again.manifest == bundle.manifest
    assert again.digest == bundle.digest


def test_default_bundle_is_loadable_or_explained() -> None:
    try:
        path = default_bundle_path()
    except BundleError as exc:
        assert "--bundle" in str(exc)
    else:
        assert load_bundle(path).manifest.name


def test_artifacts_are_verified_too(bundle_copy: Path) -> None:
    from edge_sdk.manifest import ArtifactSpec

    (bundle_copy / "segmenter.pt2").write_bytes(b"program bytes")
    bundle = load_bundle(bundle_copy)
    artifact = ArtifactSpec(kind="torch", file="segmenter.pt2", sha256="0" * 64)
    manifest = bundle.manifest.with_artifacts({"segmenter": [artifact]})
    assert manifest.classifier == bundle.manifest.classifier  # roles not named are kept
    written = write_bundle_manifest(bundle_copy, manifest)
    (stored,) = written.manifest.segmenter.artifacts_of("torch")
    assert stored.sha256 == file_sha256(bundle_copy / "segmenter.pt2")
    assert written.artifact_path("segmenter", stored) == (bundle_copy / "segmenter.pt2").resolve()
    (bundle_copy / "segmenter.pt2").write_bytes(b"other bytes")
    with pytest.raises(BundleError, match="segmenter torch file 'segmenter.pt2' has sha256"):
        load_bundle(bundle_copy)


def test_with_artifacts_refuses_unknown_roles(bundle_copy: Path) -> None:
    with pytest.raises(BundleError, match=r"no net named \['detector'\]; the roles are"):
        load_bundle(bundle_copy).manifest.with_artifacts({"detector": []})


def test_the_shipped_family_fits_the_package_budget() -> None:
    """The package data holds the whole default family: every target's files within 60 MB."""
    bundle = load_bundle(default_bundle_path())
    size = sum(f.stat().st_size for f in bundle.root.iterdir() if f.is_file())
    assert size <= 60_000_000, f"default bundle {size / 1e6:.1f} MB"
    members = bundle.manifest.provenance.get("family", {})
    assert {"int8-cpu", "fp32"} <= set(members)
