"""``build_engine`` against the TensorRT fake: the real ONNX parse of the tiny nets, profiles,
timing cache, DLA, Ctrl-C and the build device."""

from __future__ import annotations

import io
import json
from pathlib import Path

import onnx
import pytest

from edge_sdk import ConfigError
from edge_sdk.tensorrt.build import BatchProfile, build_engine
from edge_sdk.testing import tiny_classifier_onnx, tiny_segmenter_onnx
from tests.tensorrt import fakes


def _header(plan: Path) -> dict:
    data = plan.read_bytes()
    return json.loads(data[len(fakes.PLAN_MAGIC):].split(b"\n", 1)[0])


def test_profile_tuned_for_one_and_sized_for_the_largest(fake, tmp_path: Path) -> None:
    """Finding 12: opt is the typical batch (1), not the largest."""
    onnx_path = tiny_classifier_onnx(tmp_path / "cls.onnx", 32)
    meta = build_engine(onnx_path, tmp_path / "cls.plan", precision="fp32", onnx_precision="fp32",
                        max_batch=8, progress=None)
    assert _header(tmp_path / "cls.plan")["profiles"]["crop"] == [[1, 1, 32, 32], [1, 1, 32, 32],
                                                                  [8, 1, 32, 32]]
    assert meta["max_batch"] == 8 and meta["options"]["opt_batch"] == 1
    build_engine(onnx_path, tmp_path / "again.plan", precision="fp32", onnx_precision="fp32",
                 progress=None)
    assert len(fake[0].loggers) == 1  # finding 11: one trt.Logger for every builder
    assert BatchProfile.for_engine(8, 2) == BatchProfile(1, 2, 8)
    assert BatchProfile.for_engine(1, 2) == BatchProfile(1, 1, 1)


def test_other_dynamic_dimensions_refused(fake, tmp_path: Path) -> None:
    model = onnx.load(tiny_classifier_onnx(tmp_path / "cls.onnx", 32))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, tmp_path / "dyn.onnx")
    with pytest.raises(ConfigError, match="only the batch"):
        build_engine(tmp_path / "dyn.onnx", tmp_path / "dyn.plan", precision="fp32",
                     onnx_precision="fp32", progress=None)


def test_foreign_timing_cache_falls_back_to_a_fresh_one(fake, tmp_path: Path) -> None:
    """Finding 3: a cache from another GPU (set_timing_cache -> False) or a damaged one
    (create_timing_cache -> None) must not crash the build after the plan is written."""
    onnx_path = tiny_segmenter_onnx(tmp_path / "seg.onnx", 64)
    cache = tmp_path / "trt.cache"
    for stale in (b"TCACHE:NVIDIA A100", b"garbage"):
        cache.write_bytes(stale)
        with pytest.warns(UserWarning, match="another GPU"):
            build_engine(onnx_path, tmp_path / "seg.plan", precision="fp16",
                         onnx_precision="fp32", timing_cache=cache, progress=None)
        assert cache.read_bytes() == b"TCACHE:Orin (nvgpu)"  # replaced by this GPU's cache
    assert not list(tmp_path.glob(".*.tmp"))  # written through temporary files, renamed


def test_dla_builds_static_weakly_typed_with_fallback(monkeypatch, tmp_path: Path) -> None:
    """Finding 7: trtexec's DLA recipe, a static batch, and a clear refusal without cores."""
    fakes.install(monkeypatch, "10.3.0", dla_cores=2, gpu="Orin (nvgpu)")
    onnx_path = tiny_classifier_onnx(tmp_path / "cls.onnx", 32)
    meta = build_engine(onnx_path, tmp_path / "cls.plan", precision="fp16", onnx_precision="fp32",
                        max_batch=4, dla_core=1, progress=None)
    header = _header(tmp_path / "cls.plan")
    assert header["dla_core"] == 1 and header["network_flags"] == 0
    assert header["flags"] == ["FP16", "GPU_FALLBACK"]
    assert header["profiles"]["crop"][0] == header["profiles"]["crop"][2] == [4, 1, 32, 32]
    assert meta["dla_core"] == 1
    with pytest.raises(ConfigError, match="has 2 DLA core"):
        build_engine(onnx_path, tmp_path / "x.plan", precision="fp16", onnx_precision="fp32",
                     dla_core=2, progress=None)
    with pytest.raises(ConfigError, match="DLA runs fp16 and int8"):
        build_engine(onnx_path, tmp_path / "x.plan", precision="fp32", onnx_precision="fp32",
                     dla_core=0, progress=None)


def test_tensorrt_11_passes_no_network_flags(monkeypatch, tmp_path: Path) -> None:
    """Finding 9: STRONGLY_TYPED is 0 and ignored in 11.x; the fp16 ONNX gives the types."""
    fakes.install(monkeypatch, "11.1.0")
    onnx_path = tiny_segmenter_onnx(tmp_path / "seg.onnx", 64)
    build_engine(onnx_path, tmp_path / "seg.plan", precision="fp16", onnx_precision="fp16",
                 progress=None)
    header = _header(tmp_path / "seg.plan")
    assert header["network_flags"] == 0 and header["flags"] == []


def test_int8_on_10x_is_weakly_typed_with_fp16(fake, tmp_path: Path) -> None:
    """Finding 6 (the mechanism; the Q/DQ model itself comes from the toolchain)."""
    onnx_path = tiny_segmenter_onnx(tmp_path / "seg.onnx", 64)
    meta = build_engine(onnx_path, tmp_path / "seg.plan", precision="int8", onnx_precision="int8",
                        progress=None)
    header = _header(tmp_path / "seg.plan")
    assert header["network_flags"] == 0 and header["flags"] == ["FP16", "INT8"]
    assert "weakly typed" in meta["options"]["mechanism"]


def test_ctrl_c_cancels_the_build(fake, tmp_path: Path, monkeypatch) -> None:
    """Finding 14: a KeyboardInterrupt inside the monitor cancels the build and comes back."""

    class Interrupting(io.StringIO):
        def write(self, text: str) -> int:
            raise KeyboardInterrupt

    onnx_path = tiny_segmenter_onnx(tmp_path / "seg.onnx", 64)
    with pytest.raises(KeyboardInterrupt):
        build_engine(onnx_path, tmp_path / "seg.plan", precision="fp32", onnx_precision="fp32",
                     progress=Interrupting())
    assert not (tmp_path / "seg.plan").exists()


def test_builds_on_the_asked_device(monkeypatch, tmp_path: Path) -> None:
    """Finding 13: the builder uses the calling thread's current device: set it first."""
    _, rt = fakes.install(monkeypatch, devices=2)
    onnx_path = tiny_segmenter_onnx(tmp_path / "seg.onnx", 64)
    build_engine(onnx_path, tmp_path / "seg.plan", precision="fp32", onnx_precision="fp32",
                 device=1, progress=None)
    assert [device for _, device in rt.set_device_calls] == [1]
