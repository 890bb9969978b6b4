"""Training samples built with the runtime's own preprocessing and ROI code.

- :class:`SegmentationData`: whole frames through :func:`edge_sdk.preprocess.to_input`.
- :class:`CropData`: lesion crops made by :func:`edge_sdk.roi.find_regions`,
  :func:`~edge_sdk.roi.expand_box` and :func:`~edge_sdk.roi.crop_lesion`, from ground-truth
  masks and (optionally) from a trained segmenter's predictions.

Images are read once and kept in memory (BUSI is 780 frames, about 200 MB).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.dataset import Sample, load_samples, read_gray, read_mask
from edge_sdk.manifest import InputSpec, PipelineParams
from edge_sdk.preprocess import to_input
from edge_sdk.roi import Box, crop_lesion, expand_box, find_regions
from export.augment import AugmentConfig, augment
from export.errors import ExportError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "busi"


def default_data_dir() -> Path:
    """``$BUSI_DIR`` if set, else ``../shared/data/busi`` beside the repository."""
    return Path(os.environ.get("BUSI_DIR") or DEFAULT_DATA).resolve()


def split_digest(root: str | Path) -> str:
    """sha256 of ``splits.csv``: identifies exactly which images trained, selected, tested."""
    path = Path(root) / "splits.csv"
    if not path.is_file():
        raise ExportError(f"data: {path} is missing; expected the dataset's fixed split file")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Frame:
    """One loaded dataset image."""

    sample: Sample
    image: np.ndarray
    mask: np.ndarray

    @property
    def target(self) -> int:
        """1 for malignant, 0 otherwise."""
        return int(self.sample.label == "malignant")


def load_frames(root: str | Path, split: str, limit: int | None = None) -> list[Frame]:
    """Read every image and mask of one split into memory."""
    samples = load_samples(root, split)
    if not samples:
        raise ExportError(f"data: split {split!r} of {root} is empty")
    samples = samples[:limit] if limit else samples
    return [Frame(s, read_gray(s.image_path), read_mask(s.mask_path)) for s in samples]


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Index batches over ``n`` items, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


class SegmentationData:
    """Frames and masks as the segmenter sees them (N×C×H×W float, N×1×H×W 0/1)."""

    def __init__(self, frames: Sequence[Frame], spec: InputSpec,
                 augment_config: AugmentConfig | None = None) -> None:
        self.frames = list(frames)
        self.spec = spec
        self.augment_config = augment_config

    def __len__(self) -> int:
        return len(self.frames)

    def item(self, index: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        frame = self.frames[index]
        image, mask = frame.image, frame.mask
        if self.augment_config is not None and rng is not None:
            image, moved = augment(image, mask, rng, self.augment_config)
            mask = mask if moved is None else moved
        height, width = self.spec.size_hw
        target = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        return to_input(image, self.spec), target[None].astype(np.float32)

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None
              ) -> tuple[np.ndarray, np.ndarray]:
        items = [self.item(int(i), rng) for i in indices]
        return np.stack([x for x, _ in items]), np.stack([y for _, y in items])


@dataclass(frozen=True)
class Crop:
    """A lesion region to classify: which frame, which box, which label (1 = malignant)."""

    frame: int
    bbox: Box
    target: int
    source: str  # "gt" or "pred"


def regions_from_mask(mask: np.ndarray, params: PipelineParams) -> list[Box]:
    """The boxes the runtime would find if the segmenter output were exactly ``mask``."""
    min_area = max(1, math.ceil(params.min_lesion_area_fraction * mask.size))
    _, regions = find_regions(mask.astype(np.float32), 0.5, min_area)
    return [r.bbox for r in regions[: params.max_lesions]]


def _overlaps(box: Box, mask: np.ndarray) -> bool:
    x0, y0, x1, y1 = box
    return bool(mask[y0:y1, x0:x1].any())


def gt_crops(frames: Sequence[Frame], params: PipelineParams) -> list[Crop]:
    """One crop per ground-truth lesion of every benign/malignant frame."""
    return [Crop(i, box, f.target, "gt") for i, f in enumerate(frames)
            if f.sample.label != "normal" for box in regions_from_mask(f.mask, params)]


def predicted_crops(frames: Sequence[Frame], prob_maps: Sequence[np.ndarray],
                    params: PipelineParams) -> list[Crop]:
    """Crops where the segmenter finds lesions, labelled as deployment will meet them.

    A region overlapping the ground-truth lesion of a malignant frame is malignant (1); every
    other region (benign lesions, false detections on normal frames or beside the lesion) is 0,
    so that the classifier learns to score what the segmenter wrongly finds low.
    """
    crops = []
    for i, (frame, prob) in enumerate(zip(frames, prob_maps)):
        min_area = max(1, math.ceil(params.min_lesion_area_fraction * prob.size))
        _, regions = find_regions(prob, params.segmentation_threshold, min_area)
        for region in regions[: params.max_lesions]:
            target = int(frame.target == 1 and _overlaps(region.bbox, frame.mask))
            crops.append(Crop(i, region.bbox, target, "pred"))
    return crops


class CropData:
    """Classifier samples: crops cut as :func:`edge_sdk.roi.crop_lesion` cuts them."""

    def __init__(self, frames: Sequence[Frame], crops: Sequence[Crop], spec: InputSpec,
                 params: PipelineParams, augment_config: AugmentConfig | None = None,
                 margin_jitter: float = 0.1) -> None:
        if not crops:
            raise ExportError("data: no lesion crops to train the classifier on")
        self.frames = list(frames)
        self.crops = list(crops)
        self.spec = spec
        self.params = params
        self.augment_config = augment_config
        self.margin_jitter = margin_jitter

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def targets(self) -> np.ndarray:
        return np.array([c.target for c in self.crops], np.float32)

    def item(self, index: int, rng: np.random.Generator | None) -> tuple[np.ndarray, float]:
        crop = self.crops[index]
        image = self.frames[crop.frame].image
        margin = self.params.roi_margin
        if self.augment_config is not None and rng is not None:
            margin = max(0.0, margin + rng.uniform(-self.margin_jitter, self.margin_jitter))
        box = expand_box(crop.bbox, margin, image.shape[:2])
        if self.augment_config is None or rng is None:
            return crop_lesion(image, box, self.spec), float(crop.target)
        x0, y0, x1, y1 = box
        patch, _ = augment(image[y0:y1, x0:x1], None, rng, self.augment_config)
        full = (0, 0, patch.shape[1], patch.shape[0])
        return crop_lesion(patch, full, self.spec), float(crop.target)

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None
              ) -> tuple[np.ndarray, np.ndarray]:
        items = [self.item(int(i), rng) for i in indices]
        return np.stack([x for x, _ in items]), np.array([[y] for _, y in items], np.float32)
