"""Read a dataset in the BUSI layout: ``images/``, ``masks/``, ``labels.csv``, ``splits.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.errors import DatasetError

LABELS = ("benign", "malignant", "normal")


@dataclass(frozen=True)
class Sample:
    """One image of the dataset with its mask and label."""

    id: str
    label: str
    split: str | None
    image_path: Path
    mask_path: Path


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"dataset: {path} lacks column(s) {missing}; expected at least "
                               f"{list(required)}, found {reader.fieldnames}")
        return list(reader)


def load_samples(root: str | Path, split: str | None = None) -> list[Sample]:
    """List the samples of a dataset folder, optionally one split of ``splits.csv``.

    Args:
        root: Folder with ``images/<id>.png``, ``masks/<id>.png``, ``labels.csv`` (id,label,...)
            and optionally ``splits.csv`` (id,...,split).
        split: ``train``, ``val``, ``test`` or None for every image.

    Raises:
        DatasetError: a missing file or column, an unknown label, or an unknown split.
    """
    root = Path(root)
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise DatasetError(f"dataset: {labels_csv} is missing; expected a folder with images/, "
                           "masks/, labels.csv and optionally splits.csv (see README, 'Dataset')")
    splits: dict[str, str] = {}
    splits_csv = root / "splits.csv"
    if splits_csv.is_file():
        splits = {r["id"]: r["split"] for r in _read_csv(splits_csv, ("id", "split"))}
    if split is not None:
        if not splits:
            raise DatasetError(f"dataset: split {split!r} asked for but {splits_csv} is missing")
        known = sorted(set(splits.values()))
        if split not in known:
            raise DatasetError(f"dataset: unknown split {split!r}; {splits_csv} has {known}")
    samples = []
    for row in _read_csv(labels_csv, ("id", "label")):
        if row["label"] not in LABELS:
            raise DatasetError(f"dataset: {labels_csv} gives id {row['id']} the label "
                               f"{row['label']!r}; expected one of {list(LABELS)}")
        sample = Sample(
            id=row["id"], label=row["label"], split=splits.get(row["id"]),
            image_path=root / "images" / f"{row['id']}.png",
            mask_path=root / "masks" / f"{row['id']}.png",
        )
        if split is None or sample.split == split:
            samples.append(sample)
    return samples


def _read(path: Path, what: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"dataset: cannot read the {what} {path} (missing or not an image)")
    return image


def read_gray(path: str | Path) -> np.ndarray:
    """Read an image as uint8 H×W grayscale."""
    return _read(Path(path), "image")


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask as uint8 H×W with values 0 (background) and 1 (lesion)."""
    return (_read(Path(path), "mask") > 127).astype(np.uint8)
