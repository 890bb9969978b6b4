"""The engine cache's lookup and bookkeeping. TensorRT is not installable on these machines,
so the builder here is a stand-in that writes bytes; the cache logic around it is real."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from edge_sdk import load_bundle, write_bundle_manifest
from edge_sdk.engine_cache import cache_dir, engine_for, is_compatible
from edge_sdk.manifest import ArtifactSpec

FACTS = {"tensorrt_version": "10.3.0", "gpu": "Orin (nvgpu)", "compute_capability": "8.7"}


class CountingBuilder:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, onnx_path: Path, plan_path: Path, **kwargs) -> dict:
        self.calls.append(kwargs)
        plan_path.write_bytes(b"plan for " + onnx_path.name.encode())
        return {**FACTS, "precision": kwargs["precision"], "options": {"max_batch": kwargs["max_batch"]}}


@pytest.fixture()
def bundle(tiny_bundle_dir: Path, tmp_path: Path):
    return load_bundle(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))


def test_builds_once_then_reuses(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_SDK_ENGINE_CACHE", raising=False)
    build = CountingBuilder()
    path, meta = engine_for(bundle, "classifier", facts=FACTS, build=build)
    again, _ = engine_for(bundle, "classifier", facts=FACTS, build=build)
    assert path == again and len(build.calls) == 1
    assert path.parent == bundle.root.parent / "bundle.engines" / bundle.digest[:12]
    assert path.name == "classifier.fp32.trt10.3.0.sm87.orin-nvgpu.b4.plan"
    assert build.calls[0]["max_batch"] == bundle.manifest.pipeline.max_lesions
    assert meta["precision"] == "fp32"


def test_altered_cached_plan_is_rebuilt(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SDK_ENGINE_CACHE", str(bundle.root.parent / "cache"))
    build = CountingBuilder()
    path, _ = engine_for(bundle, "segmenter", facts=FACTS, build=build)
    assert path.is_relative_to(bundle.root.parent / "cache")
    path.write_bytes(b"half a plan")
    engine_for(bundle, "segmenter", facts=FACTS, build=build)
    assert len(build.calls) == 2


def test_bundle_engine_preferred_when_compatible(bundle) -> None:
    (bundle.root / "seg.plan").write_bytes(b"engine")
    meta = {**FACTS, "precision": "fp32"}
    spec = dataclasses.replace(bundle.manifest.segmenter,
                               artifacts=(ArtifactSpec("tensorrt", "seg.plan", "0" * 64, meta),))
    updated = write_bundle_manifest(bundle.root, dataclasses.replace(bundle.manifest, segmenter=spec))
    build = CountingBuilder()
    path, _got = engine_for(updated, "segmenter", facts=FACTS, build=build)
    assert path == bundle.root / "seg.plan" and not build.calls
    other_gpu = {**FACTS, "compute_capability": "9.0"}
    path, _ = engine_for(updated, "segmenter", facts=other_gpu, build=build)
    assert path != bundle.root / "seg.plan" and len(build.calls) == 1


def test_is_compatible() -> None:
    meta = {**FACTS, "precision": "int8"}
    assert is_compatible(meta, FACTS, "int8")
    assert not is_compatible(meta, FACTS, "fp16")
    assert not is_compatible(meta, {**FACTS, "tensorrt_version": "10.13.0"}, "int8")


def test_read_only_bundle_falls_back_to_home(bundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EDGE_SDK_ENGINE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    blocker = bundle.root.parent / "bundle.engines"
    blocker.write_text("a file where the cache folder would go")
    folder = cache_dir(bundle)
    assert folder == tmp_path / "home" / ".cache" / "edge-sdk" / "engines" / bundle.digest[:12]
