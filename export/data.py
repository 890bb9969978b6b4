"""Training samples built with the runtime's own preprocessing and ROI code.

- :class:`SegmentationData`: whole frames through :func:`edge_sdk.preprocess.to_input`.
- :class:`CropData`: lesion crops made by :func:`edge_sdk.roi.find_regions`,
  :func:`~edge_sdk.roi.expand_box` and :func:`~edge_sdk.roi.crop_lesion`, from ground-truth
  masks and (optionally) from a trained segmenter's predictions.

Images are read once and kept in memory (BUSI is 780 frames, BUS-BRA 1,875; about 500 MB).

Several datasets train together: a data spec is one folder or several joined by ``os.pathsep``
(``busi:busbra``), each in the shared layout with its own ``splits.csv``. Every :class:`Frame`
knows its dataset, so that training can balance them per epoch and validation can report each.
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
from export.augment import AugmentConfig, augment, match_histogram
from export.errors import ExportError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "busi"


def default_data_dir() -> Path:
    """``$BUSI_DIR`` if set, else ``../shared/data/busi`` beside the repository."""
    return Path(os.environ.get("BUSI_DIR") or DEFAULT_DATA).resolve()


def dataset_roots(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """The dataset folders of a data spec: one path, several joined by ``os.pathsep``, or a list.

    Raises:
        ExportError: the spec names no folder, or the same folder twice.
    """
    if isinstance(spec, (str, Path)):
        parts = [p for p in str(spec).split(os.pathsep) if p]
    else:
        parts = [str(p) for p in spec]
    roots = [Path(p).resolve() for p in parts]
    if not roots:
        raise ExportError("data: no dataset folder given; expected e.g. --data ../shared/data/busi")
    if len(set(roots)) != len(roots):
        raise ExportError(f"data: a dataset is named twice in {[str(r) for r in roots]}; "
                          "expected each folder once")
    return roots


def join_roots(roots: Sequence[str | Path]) -> str:
    """The one-string form of several dataset folders (what ``TrainConfig.data`` stores)."""
    return os.pathsep.join(str(Path(r).resolve()) for r in roots)


def dataset_name(root: str | Path) -> str:
    """A dataset's short name: its folder's name (``busi``, ``busbra``)."""
    return Path(root).resolve().name


def split_digest(spec: str | Path | Sequence[str | Path]) -> str:
    """sha256 of ``splits.csv`` (of each dataset, in order, when several): identifies exactly
    which images trained, selected, tested."""
    digests = []
    for root in dataset_roots(spec):
        path = root / "splits.csv"
        if not path.is_file():
            raise ExportError(f"data: {path} is missing; expected the dataset's fixed split file")
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256(":".join(digests).encode()).hexdigest()


@dataclass
class Frame:
    """One loaded dataset image."""

    sample: Sample
    image: np.ndarray
    mask: np.ndarray
    dataset: str = ""

    @property
    def target(self) -> int:
        """1 for malignant, 0 otherwise."""
        return int(self.sample.label == "malignant")


def load_frames(spec: str | Path | Sequence[str | Path], split: str,
                limit: int | None = None) -> list[Frame]:
    """Read every image and mask of one split of each dataset of ``spec`` into memory.

    ``limit`` caps the frames taken from each dataset (tests, smoke runs).
    """
    frames = []
    for root in dataset_roots(spec):
        samples = load_samples(root, split)
        if not samples:
            raise ExportError(f"data: split {split!r} of {root} is empty")
        samples = samples[:limit] if limit else samples
        name = dataset_name(root)
        frames += [Frame(s, read_gray(s.image_path), read_mask(s.mask_path), name)
                   for s in samples]
    return frames


def balanced_order(datasets: Sequence[str], rng: np.random.Generator,
                   per_dataset: int = 0) -> np.ndarray:
    """One epoch's shuffled indices in which every dataset has the same weight.

    Each dataset contributes ``per_dataset`` indices (default: as many as the smallest dataset
    has), drawn without replacement while it has enough and with replacement beyond, so a small
    dataset is not drowned by a large one and a large one is seen whole over a few epochs.
    """
    names = sorted(set(datasets))
    groups = {n: np.flatnonzero(np.asarray(datasets) == n) for n in names}
    count = per_dataset or min(len(g) for g in groups.values())
    picks = [rng.choice(g, size=count, replace=count > len(g)) for g in groups.values()]
    return rng.permutation(np.concatenate(picks))


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
            image = _other_scanner_histogram(image, self.frames, rng, self.augment_config)
            image, moved = augment(image, mask, rng, self.augment_config)
            mask = mask if moved is None else moved
        height, width = self.spec.size_hw
        target = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        return to_input(image, self.spec), target[None].astype(np.float32)

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None
              ) -> tuple[np.ndarray, np.ndarray]:
        items = [self.item(int(i), rng) for i in indices]
        return np.stack([x for x, _ in items]), np.stack([y for _, y in items])

    @property
    def datasets(self) -> list[str]:
        """Each sample's dataset name (for :func:`balanced_order`)."""
        return [f.dataset for f in self.frames]


def _other_scanner_histogram(image: np.ndarray, frames: Sequence[Frame],
                             rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """With probability ``config.histogram_match``, ``image`` in the gray levels of a random
    training frame (of any dataset: a stand-in for another scanner's grey map)."""
    if config.histogram_match <= 0 or rng.random() >= config.histogram_match or len(frames) < 2:
        return image
    return match_histogram(image, frames[int(rng.integers(len(frames)))].image)


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
        _, regions = find_regions(prob, params.segmentation_threshold, min_area,
                                  params.min_lesion_peak)
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

    @property
    def datasets(self) -> list[str]:
        """Each crop's dataset name (for :func:`balanced_order`)."""
        return [self.frames[c.frame].dataset for c in self.crops]

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
        patch = _other_scanner_histogram(image[y0:y1, x0:x1], self.frames, rng,
                                         self.augment_config)
        patch, _ = augment(patch, None, rng, self.augment_config)
        full = (0, 0, patch.shape[1], patch.shape[0])
        return crop_lesion(patch, full, self.spec), float(crop.target)

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None
              ) -> tuple[np.ndarray, np.ndarray]:
        items = [self.item(int(i), rng) for i in indices]
        return np.stack([x for x, _ in items]), np.array([[y] for _, y in items], np.float32)
