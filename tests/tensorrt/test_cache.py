"""The engine cache's lookup and bookkeeping, with a stand-in builder that writes bytes (and,
for build_bundle_engines, the TensorRT fake); the cache logic around them is real."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from edge_sdk import load_bundle, write_bundle_manifest
from edge_sdk.manifest import ArtifactSpec
from edge_sdk.tensorrt.cache import (
    build_bundle_engines,
    cache_dir,
    engine_for,
    is_compatible,
    needed_batch,
)

FACTS = {"tensorrt_version": "10.3.0", "gpu": "Orin (nvgpu)", "compute_capability": "8.7"}


class CountingBuilder:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, onnx_path: Path, plan_path: Path, **kwargs) -> dict:
        self.calls.append(kwargs)
        plan_path.write_bytes(b"plan for " + onnx_path.name.encode())
        return {**FACTS, "precision": kwargs["precision"], "max_batch": kwargs["max_batch"],
                "dla_core": kwargs.get("dla_core")}


@pytest.fixture()
def bundle(tiny_bundle_dir: Path, tmp_path: Path):
    return load_bundle(shutil.copytree(tiny_bundle_dir, tmp_path / "bundle"))


def _with_params(bundle, **params):
    manifest = bundle.manifest
    pipeline = dataclasses.replace(manifest.pipeline, **params)
    return write_bundle_manifest(bundle.root, dataclasses.replace(manifest, pipeline=pipeline))


def test_builds_once_then_reuses(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_SDK_ENGINE_CACHE", raising=False)
    build = CountingBuilder()
    path, meta = engine_for(bundle, "classifier", facts=FACTS, build=build)
    again, _ = engine_for(bundle, "classifier", facts=FACTS, build=build)
    assert path == again and len(build.calls) == 1
    assert path.parent == bundle.root.parent / "bundle.engines" / bundle.digest[:12]
    assert path.name == "classifier.fp32.trt10.3.0.sm87.orin-nvgpu.b4.plan"
    assert build.calls[0]["max_batch"] == bundle.manifest.pipeline.max_lesions
    assert build.calls[0]["opt_batch"] == 1 and build.calls[0]["device"] == 0
    assert meta["precision"] == "fp32"


def test_mirrored_crops_double_the_classifier_batch(bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: with classifier_hflip the mirrors ride in the same batch (2 × crops); the
    profile and the engine key are sized for that, and max_lesions can be raised at run time."""
    monkeypatch.setenv("EDGE_SDK_ENGINE_CACHE", str(bundle.root.parent / "cache"))
    mirrored = _with_params(bundle, classifier_hflip=True, max_lesions=3)
    assert needed_batch(mirrored.manifest.classifier, mirrored.manifest.pipeline) == 6
    assert needed_batch(mirrored.manifest.segmenter, mirrored.manifest.pipeline) == 1
    build = CountingBuilder()
    path, _ = engine_for(mirrored, "classifier", facts=FACTS, build=build)
    assert build.calls[-1]["max_batch"] == 6 and build.calls[-1]["opt_batch"] == 2
    assert path.name.endswith(".b6.plan")
    bigger, _ = engine_for(mirrored, "classifier", facts=FACTS, build=build, max_lesions=5)
    assert build.calls[-1]["max_batch"] == 10 and bigger.name.endswith(".b10.plan")
    # the b10 engine covers a b6 need, but the b6 file name is asked first: found in the cache
    again, _ = engine_for(mirrored, "classifier", facts=FACTS, build=build)
    assert again == path and len(build.calls) == 2


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
    meta = {**FACTS, "precision": "fp32", "max_batch": 1}
    spec = dataclasses.replace(bundle.manifest.segmenter,
                               artifacts=(ArtifactSpec("tensorrt", "seg.plan", "0" * 64, meta),))
    updated = write_bundle_manifest(bundle.root, dataclasses.replace(bundle.manifest, segmenter=spec))
    build = CountingBuilder()
    path, _ = engine_for(updated, "segmenter", facts=FACTS, build=build)
    assert path == bundle.root / "seg.plan" and not build.calls
    other_gpu = {**FACTS, "compute_capability": "9.0"}
    path, _ = engine_for(updated, "segmenter", facts=other_gpu, build=build)
    assert path != bundle.root / "seg.plan" and len(build.calls) == 1


@pytest.mark.parametrize(
    ("meta_change", "facts_change", "dla_core", "batch", "expected"),
    [
        ({}, {}, None, 4, True),
        ({}, {}, None, 5, False),                                 # finding 8: batch too small
        ({}, {"gpu": "Orin Nano (nvgpu)"}, None, 1, False),       # finding 8: same 8.7, other GPU
        ({"dla_core": 0}, {}, None, 1, False),                    # finding 8: DLA engine, GPU wanted
        ({"dla_core": 0}, {}, 0, 1, True),
        ({"dla_core": 0}, {}, 1, 1, False),
        ({}, {"tensorrt_version": "10.13.0"}, None, 1, False),
        ({"precision": "fp16"}, {}, None, 1, False),
        ({"max_batch": None, "options": {"max_batch": 4}}, {}, None, 4, True),  # older metadata
    ],
)
def test_is_compatible(meta_change, facts_change, dla_core, batch, expected) -> None:
    meta = {**FACTS, "precision": "int8", "max_batch": 4, **meta_change}
    if meta["max_batch"] is None:
        del meta["max_batch"]
    assert is_compatible(meta, {**FACTS, **facts_change}, "int8", dla_core, batch) is expected


def test_read_only_bundle_falls_back_to_home(bundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EDGE_SDK_ENGINE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    blocker = bundle.root.parent / "bundle.engines"
    blocker.write_text("a file where the cache folder would go")
    folder = cache_dir(bundle)
    assert folder == tmp_path / "home" / ".cache" / "edge-sdk" / "engines" / bundle.digest[:12]


def test_build_bundle_engines_records_batch_and_gpu(fake, bundle) -> None:
    mirrored = _with_params(bundle, classifier_hflip=True)
    updated = build_bundle_engines(mirrored.root)
    (cls,) = updated.manifest.classifier.artifacts_of("tensorrt")
    assert cls.meta["max_batch"] == 2 * mirrored.manifest.pipeline.max_lesions
    assert cls.meta["gpu"] == "Orin (nvgpu)" and cls.meta["dla_core"] is None
    again = build_bundle_engines(updated.root)  # a rebuild replaces, never piles up
    assert len(again.manifest.classifier.artifacts_of("tensorrt")) == 1
    assert (updated.root / cls.file).is_file()
