"""The two-stage pipeline on synthetic frames with dark elliptical lesions at known places."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_sdk import (
    Bundle,
    BundleError,
    FrameError,
    OutputSpec,
    Pipeline,
    PipelineParams,
    load_bundle,
    write_bundle_manifest,
)
from edge_sdk.testing import synthetic_frame, tiny_classifier_onnx


@pytest.fixture()
def pipeline(tiny_bundle: Bundle):
    with Pipeline(tiny_bundle, backend_options={"providers": ["CPUExecutionProvider"]}) as p:
        yield p


def _inside(box, x, y) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def test_finds_two_lesions_at_known_places(pipeline: Pipeline) -> None:
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25), (290, 200, 20, 30)])
    result = pipeline.process(frame)
    assert len(result.lesions) == 2
    big, small = result.lesions
    assert big.area_px > small.area_px
    assert _inside(big.bbox, 100, 100) and _inside(small.bbox, 290, 200)
    # tight boxes hug the ellipses within a few pixels
    assert abs(big.bbox[0] - 60) <= 4 and abs(big.bbox[2] - 141) <= 4
    assert result.mask.shape == (300, 400) and result.mask.dtype == np.uint8
    assert result.mask[100, 100] == 1 and result.mask[10, 10] == 0
    for lesion in result.lesions:
        assert 0.9 < lesion.seg_score <= 1.0
        assert lesion.label in ("benign", "malignant")
        x0, _y0, x1, _y1 = lesion.crop_box
        assert x0 <= lesion.bbox[0] and x1 >= lesion.bbox[2] and x0 >= 0 and x1 <= 400


def test_normal_frame_gives_empty_list(pipeline: Pipeline) -> None:
    result = pipeline.process(synthetic_frame(lesions=[]))
    assert result.lesions == [] and result.malignancy == 0.0
    assert not result.mask.any()


@pytest.mark.parametrize("shape", [(32, 32), (33, 200), (719, 1048), (480, 640, 3), (64, 64, 1)])
def test_any_frame_size(pipeline: Pipeline, shape: tuple[int, ...]) -> None:
    frame = np.full(shape, 170, np.uint8)
    result = pipeline.process(frame)
    assert result.mask.shape == shape[:2]


def test_color_frame_matches_gray(pipeline: Pipeline) -> None:
    gray = synthetic_frame(seed=3)
    color = synthetic_frame(seed=3, color=True)
    a, b = pipeline.process(gray), pipeline.process(color)
    assert np.array_equal(a.mask, b.mask) and a.lesions == b.lesions


def test_bit_identical_results(tiny_bundle: Bundle, pipeline: Pipeline) -> None:
    frame = synthetic_frame(lesions=[(120, 100, 30, 20), (250, 160, 25, 15)], seed=7)
    first = pipeline.process(frame)
    second = pipeline.process(frame.copy())
    with Pipeline(tiny_bundle) as fresh:
        third = fresh.process(frame)
    for other in (second, third):
        assert np.array_equal(first.mask, other.mask)
        assert first.lesions == other.lesions


def test_all_crops_classified_in_one_call(pipeline: Pipeline) -> None:
    frame = synthetic_frame(300, 400, lesions=[(80, 80, 25, 20), (250, 80, 25, 20), (160, 220, 25, 20)])
    before = pipeline.classifier.calls
    result = pipeline.process(frame)
    assert len(result.lesions) == 3
    assert pipeline.classifier.calls - before == 1


def test_lesions_over_limit_are_counted(tiny_bundle: Bundle) -> None:
    params = dataclasses.replace(tiny_bundle.manifest.pipeline, max_lesions=2)
    lesions = [(60 + 90 * i, 120, 20, 15) for i in range(4)]
    with Pipeline(tiny_bundle, params=params) as pipeline:
        result = pipeline.process(synthetic_frame(240, 400, lesions=lesions))
    assert len(result.lesions) == 2 and result.lesions_over_limit == 2
    # the mask holds the reported lesions only
    assert result.mask.sum() == sum(lesion.area_px for lesion in result.lesions)


def test_min_area_drops_specks(tiny_bundle: Bundle) -> None:
    frame = synthetic_frame(lesions=[(100, 100, 30, 20), (250, 60, 8, 8)])
    loose = dataclasses.replace(tiny_bundle.manifest.pipeline, min_lesion_area_fraction=0.0)
    strict = dataclasses.replace(loose, min_lesion_area_fraction=0.005)
    with Pipeline(tiny_bundle, params=loose) as p:
        assert len(p.process(frame).lesions) == 2
    with Pipeline(tiny_bundle, params=strict) as p:
        assert len(p.process(frame).lesions) == 1


def test_latency_per_stage(pipeline: Pipeline) -> None:
    result = pipeline.process(synthetic_frame())
    latency = result.latency_ms
    parts = latency.preprocess + latency.segment + latency.postprocess + latency.crop + latency.classify
    assert latency.total >= parts * 0.999 and latency.segment > 0
    assert set(result.to_dict()["latency_ms"]) == {"preprocess", "segment", "postprocess", "crop",
                                                   "classify", "total"}


def test_frame_index_and_timestamps(pipeline: Pipeline) -> None:
    a = pipeline.process(synthetic_frame())
    b = pipeline.process(synthetic_frame(), device_timestamp=12.5)
    c = pipeline.process(synthetic_frame(), frame_index=100, timestamp=1.0)
    assert (a.frame_index, b.frame_index, c.frame_index) == (0, 1, 100)
    assert b.timestamp >= a.timestamp and b.device_timestamp == 12.5 and c.timestamp == 1.0


NAN = np.full((64, 64), np.nan, np.float32)


@pytest.mark.parametrize(
    ("frame", "exception", "match"),
    [
        (np.zeros((64, 64), np.float32), FrameError, "dtype float32"),
        (NAN, FrameError, "NaN or infinite"),
        (np.zeros((64, 64), np.uint16), FrameError, "dtype uint16"),
        (np.zeros((0, 0), np.uint8), FrameError, "empty"),
        (np.zeros((31, 64), np.uint8), FrameError, "31x64 pixels"),
        (np.zeros((64, 16), np.uint8), FrameError, "64x16 pixels"),
        (np.zeros((64, 64, 4), np.uint8), FrameError, "COLOR_BGRA2BGR"),
        (np.zeros((64, 64, 2), np.uint8), FrameError, r"shape \(64, 64, 2\)"),
        (np.zeros((2, 64, 64, 3), np.uint8), FrameError, "shape"),
        (np.zeros(64, np.uint8), FrameError, "shape"),
        ([[0] * 64] * 64, FrameError, "is a list"),
        (None, FrameError, "is a NoneType"),
    ],
)
def test_bad_frames(pipeline: Pipeline, frame, exception, match) -> None:
    with pytest.raises(exception, match=match) as info:
        pipeline.process(frame)
    assert "expected a uint8 array" in str(info.value)
    assert len(pipeline.process(synthetic_frame()).lesions) == 1  # still usable


def _bundle_with(tmp_path: Path, source: Path, **changes) -> Bundle:
    root = Path(shutil.copytree(source, tmp_path / "variant"))
    bundle = load_bundle(root)
    return write_bundle_manifest(root, dataclasses.replace(bundle.manifest, **changes))


def test_fixed_batch_classifier_is_chunked(tiny_bundle: Bundle, tmp_path: Path) -> None:
    manifest = tiny_bundle.manifest
    root = Path(shutil.copytree(tiny_bundle.root, tmp_path / "fixed"))
    tiny_classifier_onnx(root / "classifier.onnx", size=64, batch=2)
    classifier = dataclasses.replace(
        manifest.classifier, input=dataclasses.replace(manifest.classifier.input, shape=(2, 1, 64, 64)))
    fixed = write_bundle_manifest(root, dataclasses.replace(manifest, classifier=classifier))
    frame = synthetic_frame(300, 400, lesions=[(80, 80, 25, 20), (250, 80, 25, 20), (160, 220, 25, 20)])
    with Pipeline(tiny_bundle) as dynamic, Pipeline(fixed) as chunked:
        expected = dynamic.process(frame)
        got = chunked.process(frame)
        assert chunked.classifier.calls == 2
    assert [round(l.malignancy, 5) for l in got.lesions] == [round(l.malignancy, 5) for l in expected.lesions]


def test_logit_meanings(tiny_bundle: Bundle, tmp_path: Path) -> None:
    manifest = tiny_bundle.manifest
    segmenter = dataclasses.replace(manifest.segmenter, outputs=(OutputSpec("lesion_prob", "lesion_logit"),))
    classifier = dataclasses.replace(manifest.classifier, outputs=(OutputSpec("probs", "class_logits"),))
    variant = _bundle_with(tmp_path, tiny_bundle.root, segmenter=segmenter, classifier=classifier)
    frame = synthetic_frame()
    with Pipeline(tiny_bundle) as base, Pipeline(variant) as logits:
        a, b = base.process(frame), logits.process(frame)
    # sigmoid(p) >= 0.5 for every p >= 0, so the "logit" reading marks the whole frame
    assert b.mask.all() and len(a.lesions) == 1
    probs = np.array([[1 - a.lesions[0].malignancy, a.lesions[0].malignancy]])
    expected = np.exp(probs[0, 1]) / np.exp(probs).sum()
    assert b.lesions[0].malignancy != a.lesions[0].malignancy
    assert abs(_softmax_check(a.lesions[0].malignancy) - expected) < 1e-6


def _softmax_check(p: float) -> float:
    return float(np.exp(p) / (np.exp(p) + np.exp(1 - p)))


def test_manifest_model_mismatch_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    manifest = tiny_bundle.manifest
    segmenter = dataclasses.replace(
        manifest.segmenter, input=dataclasses.replace(manifest.segmenter.input, shape=(1, 1, 96, 96)))
    variant = _bundle_with(tmp_path, tiny_bundle.root, segmenter=segmenter)
    with pytest.raises(BundleError, match="does not match its manifest: input dim 2 is 128, manifest says 96"):
        Pipeline(variant)


def test_pipeline_params_validation() -> None:
    with pytest.raises(BundleError, match="segmentation_threshold"):
        PipelineParams(segmentation_threshold=1.5)
    with pytest.raises(BundleError, match="segmenter_hflip.*true or false"):
        PipelineParams(segmenter_hflip="yes")  # type: ignore[arg-type]
    # manifests written before the mirror options existed still load, with both off
    fields = PipelineParams().to_dict()
    del fields["segmenter_hflip"], fields["classifier_hflip"]
    assert "no_lesion_score" not in fields  # its default is written as its absence
    old = PipelineParams.from_dict(fields)
    assert not old.segmenter_hflip and not old.classifier_hflip
    assert old.no_lesion_score == "zero"
    assert "min_lesion_peak" not in fields and old.min_lesion_peak == 0.0  # likewise
    gated = PipelineParams(min_lesion_peak=0.9)
    assert PipelineParams.from_dict(gated.to_dict()) == gated
    with pytest.raises(BundleError, match="min_lesion_peak"):
        PipelineParams(min_lesion_peak=1.5)
    with pytest.raises(BundleError, match="min_lesion_peak.*finite number"):
        PipelineParams.from_dict({**gated.to_dict(), "min_lesion_peak": "0.9"})


def test_min_lesion_peak_gates_the_frames_regions(tiny_bundle: Bundle) -> None:
    """The peak gate removes regions whose map never reaches it, and nothing else."""
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25)])
    with Pipeline(tiny_bundle) as pipe:
        prob = pipe._segment(pipe._segmenter_input(frame))
        (lesion,) = pipe.process(frame).lesions
        pipe.params = dataclasses.replace(pipe.params, min_lesion_peak=float(prob.max()) - 0.01)
        assert [x.bbox for x in pipe.process(frame).lesions] == [lesion.bbox]
        pipe.params = dataclasses.replace(pipe.params, min_lesion_peak=min(1.0, float(prob.max()) + 0.01))
        assert pipe.process(frame).lesions == []


def test_no_lesion_score_classifies_the_peak(tiny_bundle: Bundle) -> None:
    """With nothing over the threshold, ``peak_region`` scores the area around the map's peak
    (here the lesion the threshold hid) without reporting a lesion; ``zero`` gives 0."""
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25)])
    strict = dataclasses.replace(tiny_bundle.manifest.pipeline, segmentation_threshold=0.9999)
    peak = dataclasses.replace(strict, no_lesion_score="peak_region")
    with Pipeline(tiny_bundle) as plain, Pipeline(tiny_bundle, params=strict) as zero, \
            Pipeline(tiny_bundle, params=peak) as scored:
        (lesion,) = plain.process(frame).lesions
        missed, got = zero.process(frame), scored.process(frame)
        normal = scored.process(synthetic_frame(300, 400, lesions=[]))
    assert missed.lesions == [] and missed.malignancy == 0.0
    assert "malignancy_from" not in missed.to_dict()
    assert got.lesions == [] and not got.mask.any()  # a score, not a finding
    assert got.malignancy == pytest.approx(lesion.malignancy, abs=0.05)
    assert got.to_dict()["malignancy_from"] == "peak_region"
    assert normal.lesions == [] and 0.0 <= normal.malignancy <= 1.0
    with pytest.raises(BundleError, match="no_lesion_score.*zero"):
        PipelineParams(no_lesion_score="whole")


def test_mirror_test_time_augmentation(tiny_bundle: Bundle) -> None:
    # the tiny nets are mirror-symmetric, so averaging with the mirror must change nothing:
    # a mirror pass that were not flipped back would move the off-centre lesions
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25), (290, 200, 20, 30)])
    mirrored = dataclasses.replace(tiny_bundle.manifest.pipeline, segmenter_hflip=True,
                                   classifier_hflip=True)
    with Pipeline(tiny_bundle) as plain, Pipeline(tiny_bundle, params=mirrored) as tta:
        expected = plain.process(frame)
        seg_calls, cls_calls = tta.segmenter.calls, tta.classifier.calls
        got = tta.process(frame)
        assert tta.segmenter.calls - seg_calls == 2  # the frame and its mirror
        assert tta.classifier.calls - cls_calls == 1  # mirrored crops ride in the same batch
    assert np.array_equal(got.mask, expected.mask)
    assert [l.bbox for l in got.lesions] == [l.bbox for l in expected.lesions]
    assert np.allclose([l.malignancy for l in got.lesions],
                       [l.malignancy for l in expected.lesions], atol=1e-6)


def test_mirror_pass_survives_a_backend_that_reuses_its_output_buffer(
        tiny_bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    # backends may hand back the same output array on every call (TensorRT's host buffers):
    # the first pass's map must not be overwritten by the mirror pass's
    frame = synthetic_frame(300, 400, lesions=[(100, 100, 40, 25), (290, 200, 20, 30)])
    mirrored = dataclasses.replace(tiny_bundle.manifest.pipeline, segmenter_hflip=True)
    with Pipeline(tiny_bundle) as plain, Pipeline(tiny_bundle, params=mirrored) as tta:
        expected = plain.process(frame)
        infer, buffers = tta.segmenter.infer, {}

        def reusing_infer(feeds):
            for name, array in infer(feeds).items():
                buffers.setdefault(name, np.empty_like(array))[...] = array
            return buffers

        monkeypatch.setattr(tta.segmenter, "infer", reusing_infer)
        got = tta.process(frame)
    assert np.array_equal(got.mask, expected.mask)
    assert [l.bbox for l in got.lesions] == [l.bbox for l in expected.lesions]


@pytest.mark.parametrize("sort_limit", [0, 10**9])  # OpenCV's stats pass, and the NumPy sort
@pytest.mark.parametrize("noise_scale", [3, 40])  # many small regions, a large noisy foreground
def test_region_statistics_match_opencv(noise_scale: int, sort_limit: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of computing region statistics agree with OpenCV's stats pass."""
    import cv2

    from edge_sdk import roi
    from edge_sdk.roi import find_regions

    monkeypatch.setattr(roi, "_SORT_LIMIT", sort_limit)
    rng = np.random.default_rng(noise_scale)
    prob = cv2.GaussianBlur(rng.random((300, 400)).astype(np.float32), (0, 0), noise_scale / 10 + 1)
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    threshold = 0.5 if noise_scale == 40 else 0.7
    _labels, regions = find_regions(prob, threshold, 5)
    _count, ref_labels, stats, _ = cv2.connectedComponentsWithStats((prob >= threshold).astype(np.uint8), connectivity=8)
    expected = sorted(
        ((int(x), int(y), int(x + w), int(y + h)), int(a), float(prob[ref_labels == k].mean()))
        for k, (x, y, w, h, a) in enumerate(stats) if k and a >= 5)
    expected.sort(key=lambda r: (-r[1], r[0]))
    assert [(r.bbox, r.area_px) for r in regions] == [(e[0], e[1]) for e in expected]
    np.testing.assert_allclose([r.seg_score for r in regions], [e[2] for e in expected], rtol=1e-5)


@pytest.mark.parametrize("hflip", [False, True])
def test_reused_input_arrays_give_fresh_results(tiny_bundle: Bundle, hflip: bool) -> None:
    """The segmenter input and the classifier batch are reused from frame to frame; frames
    with 2, 1, 0 and 2 lesions give what a fresh pipeline gives for each."""
    params = dataclasses.replace(tiny_bundle.manifest.pipeline, segmenter_hflip=hflip,
                                 classifier_hflip=hflip)
    frames = [synthetic_frame(300, 400, lesions=lesions, seed=i) for i, lesions in enumerate(
        [[(100, 100, 40, 25), (290, 200, 20, 30)], [(200, 150, 30, 30)], [],
         [(120, 90, 25, 35), (300, 220, 30, 20)]])]
    cpu = {"providers": ["CPUExecutionProvider"]}
    with Pipeline(tiny_bundle, backend_options=cpu, params=params) as reused:
        got = [reused.process(frame) for frame in frames]
    for frame, result in zip(frames, got):
        with Pipeline(tiny_bundle, backend_options=cpu, params=params) as fresh:
            expected = fresh.process(frame)
        assert np.array_equal(result.mask, expected.mask)
        assert [(l.bbox, l.malignancy) for l in result.lesions] == \
            [(l.bbox, l.malignancy) for l in expected.lesions]
    assert [len(r.lesions) for r in got] == [2, 1, 0, 2]
