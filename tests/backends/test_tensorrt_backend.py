"""The TensorRT backend against the shared contract: on the TensorRT/cuda-python fakes here
(``tests/tensorrt/fakes.py``: the tiny ONNX nets run in ONNX Runtime behind TensorRT's API), and
on a real GPU with TensorRT (marker ``gpu``; skipped with the reason where either is absent,
which is every machine of this project's CI; ``benchmarks/gpu_check.sh`` runs them there)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_sdk import BackendError, Pipeline, load_bundle
from edge_sdk.backends import TensorRTBackend
from edge_sdk.tensorrt.build import build_engine
from edge_sdk.tensorrt.compat import tensorrt_problem
from edge_sdk.testing import synthetic_frame, tiny_classifier_onnx, tiny_segmenter_onnx
from tests.backends.contract import CLS_SIZE, SEG_SIZE, BackendContract
from tests.tensorrt import fakes


def _segmenter(folder: Path, **options) -> TensorRTBackend:
    onnx = tiny_segmenter_onnx(folder / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, folder / "seg.plan", precision="fp32", onnx_precision="fp32",
                        progress=None)
    return TensorRTBackend(folder / "seg.plan", meta=meta, **options)


def _classifier(folder: Path, max_batch: int = 8, dla_core: int | None = None,
                **options) -> TensorRTBackend:
    onnx = tiny_classifier_onnx(folder / "cls.onnx", CLS_SIZE)
    meta = build_engine(onnx, folder / "cls.plan", precision="fp16" if dla_core is not None else "fp32",
                        onnx_precision="fp32", max_batch=max_batch, dla_core=dla_core, progress=None)
    return TensorRTBackend(folder / "cls.plan", meta=meta, **options)


def _dark_square() -> np.ndarray:
    image = np.ones((1, 1, SEG_SIZE, SEG_SIZE), np.float32)
    image[..., 20:40, 20:40] = 0.0
    return image


# ---- on the fakes -----------------------------------------------------------------------------
class TestTensorRTContractOnFakes(BackendContract):
    @pytest.fixture(autouse=True)
    def _fakes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fakes.install(monkeypatch)

    def make_segmenter(self, folder: Path) -> TensorRTBackend:
        return _segmenter(folder)

    def make_classifier(self, folder: Path) -> TensorRTBackend:
        return _classifier(folder)


@pytest.fixture()
def rt(monkeypatch: pytest.MonkeyPatch) -> fakes.FakeCudart:
    return fakes.install(monkeypatch, dla_cores=2)[1]


def test_outputs_outlive_deactivate(rt, tmp_path: Path) -> None:
    """Finding 1: outputs are views of pinned memory; deactivate() must not free it under them."""
    with _segmenter(tmp_path) as trt:
        prob = trt.infer({"image": _dark_square()})["lesion_prob"]
    gc.collect()
    assert prob[0, 0, 30, 30] > 0.9 and prob[0, 0, 5, 5] < 0.1  # not freed (poisoned) memory
    held = len(rt.pinned)
    del prob
    gc.collect()
    assert len(rt.pinned) == held - 1 and not rt.streams and not rt.events


def test_cuda_graphs_cached_per_shape_and_destroyed(rt, tmp_path: Path) -> None:
    """Finding 5: one executable per input shape, replayed; graphs destroyed after instantiate;
    executables destroyed when addresses move and at deactivate."""
    crops = {n: np.random.default_rng(n).random((n, 1, CLS_SIZE, CLS_SIZE), np.float32)
             for n in (1, 2)}
    with _classifier(tmp_path, max_batch=2) as reference:
        expected = {n: reference.infer({"crop": crops[n]})["probs"].copy() for n in (1, 2)}
    with _classifier(tmp_path, max_batch=2, cuda_graph=True) as trt:
        for n in (2, 1, 2, 1, 2, 1):  # the batch-2 buffers come first: no address moves after
            np.testing.assert_allclose(trt.infer({"crop": crops[n]})["probs"], expected[n],
                                       rtol=1e-6)
        assert len(rt.execs) == 2 and rt.graphs == {} and rt.graphs_destroyed == 2
    assert rt.execs == {} and rt.execs_destroyed == 2


def test_failed_capture_falls_back_with_a_warning(rt, tmp_path: Path) -> None:
    with _segmenter(tmp_path, cuda_graph=True) as trt:
        trt._context.fail_during_capture = True
        with pytest.warns(UserWarning, match="CUDA graph capture failed"):
            first = trt.infer({"image": _dark_square()})["lesion_prob"].copy()
        assert rt.capturing == {}  # the capture was ended
        second = trt.infer({"image": _dark_square()})["lesion_prob"]
        assert np.array_equal(first, second) and rt.execs == {}


def test_batch_beyond_the_profile_names_the_fix(rt, tmp_path: Path) -> None:
    with _classifier(tmp_path, max_batch=2) as trt, \
            pytest.raises(BackendError, match="takes at most 2.*max_lesions"):
        trt.infer({"crop": np.zeros((3, 1, CLS_SIZE, CLS_SIZE), np.float32)})


def test_dla_engine_sets_the_core_and_pads_its_static_batch(rt, tmp_path: Path) -> None:
    """Finding 7: a DLA plan needs runtime.DLA_core; its batch is static, so fewer crops are
    padded and the padding's outputs dropped."""
    crops = np.random.default_rng(3).random((2, 1, CLS_SIZE, CLS_SIZE), np.float32)
    (tmp_path / "gpu").mkdir()
    with _classifier(tmp_path / "gpu", max_batch=4) as reference:
        expected = reference.infer({"crop": crops})["probs"].copy()
    with _classifier(tmp_path, max_batch=4, dla_core=1) as trt:
        assert trt._runtime.DLA_core == 1
        got = trt.infer({"crop": crops})["probs"]
        assert got.shape == (2, 2)
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_failed_activation_releases_everything(rt, tmp_path: Path) -> None:
    """Finding 10: create_execution_context() can return None; nothing may leak."""
    trt = _segmenter(tmp_path, time_transfers=True)
    original = fakes.FakeRuntime.__init__

    def failing(self, logger) -> None:
        original(self, logger)
        self.fail_context = True

    fakes.FakeRuntime.__init__ = failing  # type: ignore[method-assign]
    try:
        with pytest.raises(BackendError, match="execution context"):
            trt.activate()
    finally:
        fakes.FakeRuntime.__init__ = original  # type: ignore[method-assign]
    rt.fail_event_create = True  # fails after the stream exists
    with pytest.raises(BackendError, match="cudaEventCreate"):
        trt.activate()
    rt.fail_event_create = False
    assert not trt.is_active and not rt.streams and not rt.events and not rt.pinned
    with trt:  # and it can be activated again
        assert trt.infer({"image": _dark_square()})["lesion_prob"].shape == (1, 1, SEG_SIZE, SEG_SIZE)


def test_every_calling_thread_uses_the_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Finding 13: cudaSetDevice is per thread; a streaming worker thread must set it too."""
    _, rt = fakes.install(monkeypatch, devices=2)
    onnx = tiny_segmenter_onnx(tmp_path / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, tmp_path / "seg.plan", precision="fp32", onnx_precision="fp32",
                        device=1, progress=None)
    with TensorRTBackend(tmp_path / "seg.plan", meta=meta, device=1) as trt:
        worker = threading.Thread(target=lambda: trt.infer({"image": _dark_square()}))
        worker.start()
        worker.join()
    assert {device for _, device in rt.set_device_calls} == {1}
    assert len({thread for thread, _ in rt.set_device_calls}) == 2


def test_pipeline_with_mirrored_crops_at_max_lesions(rt, tiny_bundle_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: with classifier_hflip, max_lesions crops and their mirrors fit the profile,
    also when the pipeline's params override the bundle's."""
    import dataclasses

    monkeypatch.setenv("EDGE_SDK_ENGINE_CACHE", str(tmp_path / "cache"))
    bundle = load_bundle(tiny_bundle_dir)
    params = dataclasses.replace(bundle.manifest.pipeline, classifier_hflip=True, max_lesions=2)
    frame = synthetic_frame(lesions=[(80, 120, 25, 20), (220, 120, 25, 20)])
    with Pipeline(bundle, backend="onnxruntime", params=params) as reference:
        expected = reference.process(frame)
    with Pipeline(bundle, backend="tensorrt", params=params) as pipeline:
        result = pipeline.process(frame)
        assert pipeline.classifier._batch_range == {"crop": (1, 4)}  # type: ignore[attr-defined]
    assert len(result.lesions) == len(expected.lesions) == 2
    for got, want in zip(result.lesions, expected.lesions):
        assert got.malignancy == pytest.approx(want.malignancy, abs=1e-5)


# ---- on a real GPU ----------------------------------------------------------------------------
def _skip_without_tensorrt_gpu() -> None:
    problem = tensorrt_problem()
    if problem:
        pytest.skip(problem)
    from edge_sdk.tensorrt.cuda import cuda_problem

    problem = cuda_problem(0)
    if problem:
        pytest.skip(f"no usable CUDA GPU: {problem}")


@pytest.mark.gpu
class TestTensorRTContract(BackendContract):
    @pytest.fixture(autouse=True)
    def _needs_gpu(self) -> None:
        _skip_without_tensorrt_gpu()

    def make_segmenter(self, folder: Path) -> TensorRTBackend:
        return _segmenter(folder)

    def make_classifier(self, folder: Path) -> TensorRTBackend:
        return _classifier(folder)


@pytest.mark.gpu
def test_cuda_graph_and_transfer_split(tmp_path: Path) -> None:
    _skip_without_tensorrt_gpu()
    onnx = tiny_segmenter_onnx(tmp_path / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, tmp_path / "seg.plan", precision="fp16", onnx_precision="fp32",
                        progress=None)
    with TensorRTBackend(tmp_path / "seg.plan", meta=meta, cuda_graph=True, time_transfers=True) as trt:
        for _ in range(3):
            out = trt.infer({"image": _dark_square()})["lesion_prob"]
        assert set(trt.last_split_ms) == {"h2d", "compute", "d2h"}
    assert out[0, 0, 30, 30] > 0.9 and out[0, 0, 5, 5] < 0.1  # still valid after deactivate


@pytest.mark.gpu
def test_engine_from_another_gpu_refused(tmp_path: Path) -> None:
    _skip_without_tensorrt_gpu()
    onnx = tiny_segmenter_onnx(tmp_path / "seg.onnx", SEG_SIZE)
    meta = build_engine(onnx, tmp_path / "seg.plan", precision="fp32", onnx_precision="fp32",
                        progress=None)
    meta["compute_capability"] = "1.0"
    with pytest.raises(BackendError, match="compute capability 1.0"):
        TensorRTBackend(tmp_path / "seg.plan", meta=meta).activate()
