"""The two-stage pipeline: segmenter → area of interest → crop → classifier → FrameResult."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from edge_sdk.backends import BACKENDS, Backend, backend_for_bundle, choose_backend
from edge_sdk.bundle import Bundle, load_bundle
from edge_sdk.errors import BundleError
from edge_sdk.manifest import ModelSpec, PipelineParams
from edge_sdk.preprocess import RESIZE_INTERPOLATION, convert_color, to_input, validate_frame
from edge_sdk.results import FrameResult, Lesion, StageLatency
from edge_sdk.roi import (
    Box,
    Region,
    RegionPiece,
    crop_lesion,
    expand_box,
    find_regions_net,
    paint_mask,
    peak_region,
)
from edge_sdk.thread_budget import ThreadBudget, thread_budget


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function as float32, in its tanh form, which never overflows
    (``1 / (1 + exp(-x))`` warns for logits below about -88).

    Example:
        >>> sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    return (0.5 + 0.5 * np.tanh(0.5 * x.astype(np.float32))).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x.astype(np.float32) - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _ms(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1e6


@dataclass(frozen=True)
class SegmentedFrame:
    """A frame between the two halves of the pipeline (see :meth:`Pipeline.segment`).

    Attributes:
        image: The validated frame.
        pieces: Kept regions with their frame pixels, largest first (at most the bundle's
            ``max_lesions``); :attr:`mask` paints them.
        over_limit: Regions found beyond ``max_lesions``.
        frame_index: Sequence number.
        timestamp: Host monotonic time of the frame.
        device_timestamp: The device's own timestamp, if any.
        stage_ms: Latency of preprocess, segment and postprocess, in ms.
        peak_box: With no region kept and ``no_lesion_score: peak_region``, the frame box of
            the map's most suspicious area (scored, not reported as a lesion).
    """

    image: np.ndarray
    pieces: list[RegionPiece]
    over_limit: int
    frame_index: int
    timestamp: float
    device_timestamp: float | None
    stage_ms: tuple[float, float, float]
    peak_box: Box | None = None

    @property
    def regions(self) -> list[Region]:
        """Kept regions, largest first."""
        return [piece.region for piece in self.pieces]

    @property
    def mask(self) -> np.ndarray:
        """H×W uint8 mask of the kept regions (painted on each call: only their boxes)."""
        return paint_mask(self.image.shape[:2], self.pieces)


class Pipeline:
    """Runs frames through both nets of a bundle.

    Args:
        bundle: A :class:`Bundle` or the path of a bundle directory (verified on load).
        backend: Backend kind from :data:`edge_sdk.BACKENDS`, e.g. ``"onnxruntime"``.
        backend_options: Keyword options for both backends (e.g. ``providers``). A
            ``threads`` option gives both stages that many threads (like ``threads=N``).
        params: Override the manifest's pipeline parameters.
        threads: CPU threads per stage: a :class:`~edge_sdk.thread_budget.ThreadBudget`, an int
            for every stage, or None for the measured default of
            :func:`~edge_sdk.thread_budget.thread_budget` (see :attr:`thread_budget`).

    The pipeline is not thread-safe: use one per thread (each holds its own sessions).

    Example:
        >>> import tempfile
        >>> from edge_sdk.testing import make_tiny_bundle, synthetic_frame
        >>> bundle = make_tiny_bundle(tempfile.mkdtemp())
        >>> with Pipeline(bundle) as pipeline:
        ...     result = pipeline.process(synthetic_frame(lesions=[(160, 120, 30, 20)]))
        >>> len(result.lesions), result.lesions[0].label
        (1, 'malignant')
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: str = "onnxruntime",
        backend_options: Mapping[str, Any] | None = None,
        params: PipelineParams | None = None,
        threads: ThreadBudget | int | None = None,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        manifest = self.bundle.manifest
        self.params = params or manifest.pipeline
        self._frames = 0
        self._seg_in: np.ndarray | None = None
        self._cls_in: np.ndarray | None = None
        # "auto" resolves to a kind plus options (e.g. ORT providers); explicit options win
        self.backend_choice = choose_backend(backend)
        self.backend_kind = self.backend_choice.kind
        options = {**self.backend_choice.options, **dict(backend_options or {})}
        if threads is None and options.get("threads") is not None:
            threads = int(options["threads"])
        options.pop("threads", None)
        budget = threads if isinstance(threads, ThreadBudget) else thread_budget(threads)
        accepted = BACKENDS[self.backend_kind].accepted_options() if (
            self.backend_kind in BACKENDS) else []
        if "spinning" in options and "spinning" in accepted:  # e.g. --option spinning=true
            budget = budget.with_spinning(bool(options.pop("spinning")))
        self.thread_budget = budget
        self.segmenter = self._backend("segmenter", options)
        self.classifier = self._backend("classifier", options)
        try:
            for net, spec in ((self.segmenter, manifest.segmenter),
                              (self.classifier, manifest.classifier)):
                net.activate()
                self._check_against_manifest(net, spec)
        except BaseException:
            self.close()
            raise

    def _backend(self, role: str, options: Mapping[str, Any]) -> Backend:
        """The ``role`` net's backend with its share of the thread budget."""
        accepted = BACKENDS[self.backend_kind].accepted_options() if (
            self.backend_kind in BACKENDS) else ()
        budget = self.thread_budget.options(role, accepted)
        if getattr(BACKENDS.get(self.backend_kind), "process_wide_threads", False):
            # one pool for the whole process (torch): both stages ask for the larger share
            budget["threads"] = max(self.thread_budget.for_stage(r).threads
                                    for r in ("segmenter", "classifier"))
        if getattr(BACKENDS.get(self.backend_kind), "sized_by_pipeline", False):
            budget["pipeline_params"] = self.params  # TensorRT: a profile for what this sends
        return backend_for_bundle(self.backend_kind, self.bundle, role, **{**budget, **options})

    # ---- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Release both backends. The pipeline cannot process frames afterwards."""
        self.segmenter.deactivate()
        self.classifier.deactivate()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @staticmethod
    def _check_against_manifest(net: Backend, spec: ModelSpec) -> None:
        inputs = {s.name: s for s in net.input_specs}
        outputs = {s.name for s in net.output_specs}
        problems = []
        if set(inputs) != {spec.input.name}:
            problems.append(f"inputs {sorted(inputs)}, manifest says ['{spec.input.name}']")
        elif len(inputs[spec.input.name].shape) != 4:
            problems.append(f"input rank {len(inputs[spec.input.name].shape)}, manifest says 4")
        else:
            model_shape = inputs[spec.input.name].shape
            for dim, (got, want) in enumerate(zip(model_shape, spec.input.shape)):
                if want != -1 and got is not None and got != want:
                    problems.append(f"input dim {dim} is {got}, manifest says {want}")
        if spec.output.name not in outputs:
            problems.append(f"outputs {sorted(outputs)} lack '{spec.output.name}'")
        if problems:
            raise BundleError(
                f"bundle: the {spec.role} model '{spec.file}' does not match its manifest: "
                + "; ".join(problems) + ". Fix: re-export the bundle so manifest and model agree"
            )

    # ---- per frame --------------------------------------------------------------------------
    def process(
        self,
        frame: np.ndarray,
        frame_index: int | None = None,
        timestamp: float | None = None,
        device_timestamp: float | None = None,
    ) -> FrameResult:
        """Run one frame through segmentation, area of interest, crop and classification.

        Args:
            frame: uint8 H×W grayscale or H×W×3 BGR, H and W ≥ 32, any size.
            frame_index: Sequence number; default: frames processed so far by this pipeline.
            timestamp: Host monotonic time of the frame; default: now.
            device_timestamp: The capture device's own timestamp, passed through.

        Raises:
            FrameError: the frame is not a valid image (the pipeline stays usable).
        """
        return self.classify(self.segment(frame, frame_index, timestamp, device_timestamp))

    def segment(
        self,
        frame: np.ndarray,
        frame_index: int | None = None,
        timestamp: float | None = None,
        device_timestamp: float | None = None,
    ) -> SegmentedFrame:
        """First half of :meth:`process`: preprocess, segment, find the lesion regions.

        :meth:`segment` uses only the segmenter and :meth:`classify` only the classifier, so the
        streaming runtime may run the two halves in two threads to overlap consecutive frames.
        """
        start = time.perf_counter_ns()
        if timestamp is None:
            timestamp = time.monotonic()
        image = validate_frame(frame)
        seg_in = self._segmenter_input(image)
        t_pre = time.perf_counter_ns()

        prob = self._segment(seg_in)
        t_seg = time.perf_counter_ns()

        pieces = self._regions(prob, image.shape[:2])
        over_limit = max(0, len(pieces) - self.params.max_lesions)
        pieces = pieces[: self.params.max_lesions]
        peak_box = (peak_region(prob, image.shape[:2])
                    if not pieces and self.params.no_lesion_score == "peak_region" else None)
        t_post = time.perf_counter_ns()

        index = self._frames if frame_index is None else frame_index
        self._frames += 1
        return SegmentedFrame(
            image=image, pieces=pieces, over_limit=over_limit, frame_index=index,
            timestamp=timestamp, device_timestamp=device_timestamp,
            stage_ms=(_ms(start, t_pre), _ms(t_pre, t_seg), _ms(t_seg, t_post)), peak_box=peak_box,
        )

    def classify(self, segmented: SegmentedFrame) -> FrameResult:
        """Second half of :meth:`process`: crop each region, classify, build the result."""
        manifest = self.bundle.manifest
        image, regions = segmented.image, segmented.regions
        start = time.perf_counter_ns()
        crop_boxes = [expand_box(r.bbox, self.params.roi_margin, image.shape[:2]) for r in regions]
        if segmented.peak_box is not None:  # no lesion: score the most suspicious area
            peak = expand_box(segmented.peak_box, self.params.roi_margin, image.shape[:2])
            crops = [crop_lesion(image, peak, manifest.classifier.input)]
        else:
            crops = [crop_lesion(image, box, manifest.classifier.input) for box in crop_boxes]
        t_crop = time.perf_counter_ns()

        malignancy = self._classify(crops) if crops else np.zeros(0, np.float32)
        no_lesion = float(malignancy[0]) if segmented.peak_box is not None else None
        lesions = [
            Lesion(
                bbox=region.bbox, crop_box=box, area_px=region.area_px,
                seg_score=min(1.0, max(0.0, region.seg_score)), malignancy=float(score),
                label=(self.params.positive_class if score >= self.params.decision_threshold
                       else self.params.negative_class),
            )
            for region, box, score in zip(regions, crop_boxes, malignancy)
        ]
        end = time.perf_counter_ns()

        preprocess, segment, postprocess = segmented.stage_ms
        crop, classify = _ms(start, t_crop), _ms(t_crop, end)
        return FrameResult(
            frame_index=segmented.frame_index, timestamp=segmented.timestamp,
            device_timestamp=segmented.device_timestamp,
            mask=segmented.mask, lesions=lesions, lesions_over_limit=segmented.over_limit,
            no_lesion_malignancy=no_lesion,
            latency_ms=StageLatency(
                preprocess=preprocess, segment=segment, postprocess=postprocess, crop=crop,
                classify=classify, total=preprocess + segment + postprocess + crop + classify,
            ),
        )

    __call__ = process

    def stream(self, source: Any, **options: Any) -> Any:
        """Run this pipeline over a frame source in the streaming runtime.

        Args:
            source: An :class:`~edge_sdk.sources.FrameSource` or a source URI/path.
            **options: Options of :class:`~edge_sdk.streaming.StreamRunner` (policy, region, ...).

        Returns:
            A :class:`~edge_sdk.streaming.StreamRunner`; iterate over it inside ``with``.
        """
        from edge_sdk.sources import source_from_uri
        from edge_sdk.streaming import StreamRunner

        if isinstance(source, (str, Path)):
            source = source_from_uri(str(source))
        return StreamRunner(self, source, **options)

    def probability_map(self, raw: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """Turn the segmenter's raw output into an H×W float32 probability map of the frame."""
        return self._frame_map(self._net_probability(raw), frame_hw)

    @staticmethod
    def _frame_map(prob: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """A net-resolution probability map resized to the frame (bilinear)."""
        height, width = frame_hw
        return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)

    def _net_probability(self, raw: np.ndarray) -> np.ndarray:
        """The segmenter's output as a probability map at the net's resolution."""
        if int(np.prod(raw.shape[:-2])) != 1:
            raise BundleError(
                f"bundle: segmenter output '{self.bundle.manifest.segmenter.output.name}' has "
                f"shape {raw.shape}; expected one H×W map (1×1×H×W)"
            )
        prob = np.asarray(raw, dtype=np.float32).reshape(raw.shape[-2:])
        if self.bundle.manifest.segmenter.output.meaning == "lesion_logit":
            prob = sigmoid(prob)
        return prob

    def _segment(self, seg_in: np.ndarray) -> np.ndarray:
        """Net-resolution lesion probability, averaged with the mirror's when asked."""
        prob = self._segment_once(seg_in)
        if self.params.segmenter_hflip:
            # the backend may reuse its output array on the next call: keep this pass's map
            prob = prob.copy()
            mirrored = self._segment_once(np.ascontiguousarray(seg_in[..., ::-1]))
            prob = 0.5 * (prob + mirrored[:, ::-1])
        return prob

    def _segment_once(self, seg_in: np.ndarray) -> np.ndarray:
        spec = self.bundle.manifest.segmenter
        return self._net_probability(self.segmenter.infer({spec.input.name: seg_in})[spec.output.name])

    def _segmenter_input(self, image: np.ndarray) -> np.ndarray:
        """The segmenter's 1×C×H×W input, written into one array reused for every frame (the
        backend is done with it when ``infer`` returns)."""
        spec = self.bundle.manifest.segmenter.input
        if spec.dtype != np.float32:
            return to_input(image, spec)[None]
        height, width = spec.size_hw
        if self._seg_in is None:
            self._seg_in = np.empty((1, spec.channels, height, width), np.float32)
        pixels = convert_color(image, spec.color)
        if pixels.shape[:2] != (height, width):
            pixels = cv2.resize(pixels, (width, height), interpolation=RESIZE_INTERPOLATION)
        # preprocess.normalize's arithmetic, in place: (pixels * scale - mean) / std
        out = self._seg_in[0].transpose(1, 2, 0)
        np.multiply(pixels.reshape(height, width, spec.channels), np.float32(spec.scale), out=out)
        np.subtract(out, np.asarray(spec.mean, np.float32), out=out)
        np.multiply(out, (1.0 / np.asarray(spec.std, np.float32)).astype(np.float32), out=out)
        return self._seg_in

    def _regions(self, prob: np.ndarray, frame_hw: tuple[int, int]) -> list[RegionPiece]:
        """Regions of the net-resolution map, measured in frame pixels (no frame-sized map)."""
        min_area = max(1, math.ceil(self.params.min_lesion_area_fraction * frame_hw[0] * frame_hw[1]))
        return find_regions_net(prob, frame_hw, self.params.segmentation_threshold, min_area,
                                self.params.min_lesion_peak)

    def _classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Classify all crops of a frame: one batched call with a dynamic-batch classifier."""
        spec = self.bundle.manifest.classifier
        count = len(crops) * (2 if self.params.classifier_hflip else 1)
        shape = (count,) + crops[0].shape
        if (self._cls_in is None or self._cls_in.shape[0] < count
                or self._cls_in.shape[1:] != shape[1:] or self._cls_in.dtype != crops[0].dtype):
            self._cls_in = np.empty((max(count, 2 * self.params.max_lesions),) + shape[1:],
                                    crops[0].dtype)
        batch = self._cls_in[:count]  # one array reused for every frame's crops
        np.stack(crops, out=batch[: len(crops)])
        if self.params.classifier_hflip:  # mirrors ride in the same batch; averaged below
            batch[len(crops):] = batch[: len(crops), ..., ::-1]
        fixed = spec.input.shape[0]
        if fixed == -1:
            chunks = [batch]
        else:  # a fixed-batch model: pad the last chunk with zeros, drop the padding's outputs
            chunks = []
            for i in range(0, len(batch), fixed):
                chunk = batch[i : i + fixed]
                pad = np.zeros((fixed - len(chunk),) + chunk.shape[1:], chunk.dtype)
                chunks.append(np.concatenate([chunk, pad]))
        scores = []
        for chunk in chunks:
            raw = np.asarray(self.classifier.infer({spec.input.name: chunk})[spec.output.name])
            scores.append(self._malignancy(raw))
        score = np.concatenate(scores)
        if self.params.classifier_hflip:
            return 0.5 * (score[: len(crops)] + score[len(crops) : 2 * len(crops)])
        return score[: len(crops)]

    def _malignancy(self, raw: np.ndarray) -> np.ndarray:
        meaning = self.bundle.manifest.classifier.output.meaning
        raw = raw.astype(np.float32).reshape(raw.shape[0], -1)
        if meaning == "malignancy_logit":
            score = sigmoid(raw[:, 0])
        else:
            probs = _softmax(raw) if meaning == "class_logits" else raw
            score = probs[:, self.params.positive_index]
        return np.clip(score, 0.0, 1.0)
