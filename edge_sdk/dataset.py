"""Read a dataset in the BUSI layout: ``images/``, ``masks/``, ``labels.csv``, ``splits.csv``.

``labels.csv`` (``id,label``) with ``images/<id>.png`` and ``masks/<id>.png`` is a dataset;
``splits.csv`` (``id,split``) is optional and names the rows of ``train``/``val``/``test``.
The split ``all`` is every row of ``labels.csv``.
"""

from __future__ import annotations

import csv
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_sdk.errors import DatasetError

LABELS = ("benign", "malignant", "normal")
ALL = "all"  # the split of every labelled image, with or without splits.csv
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


@dataclass(frozen=True)
class BadRow:
    """A row of ``labels.csv`` that cannot be evaluated, and why."""

    id: str
    problem: str


def default_split(root: str | Path) -> str:
    """``test`` where the folder has ``splits.csv``, else ``all`` (every labelled image)."""
    return "test" if (Path(root) / "splits.csv").is_file() else ALL


def _rows(root: Path, split: str | None) -> tuple[Path, list[dict[str, str]], dict[str, str]]:
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise DatasetError(f"dataset: {labels_csv} is missing; expected a folder with images/, "
                           "masks/, labels.csv (id,label) and optionally splits.csv (id,split) "
                           "(see README, 'Dataset')")
    splits: dict[str, str] = {}
    splits_csv = root / "splits.csv"
    if splits_csv.is_file():
        splits = {r["id"]: r["split"] for r in _read_csv(splits_csv, ("id", "split"))}
    if split is not None and split != ALL:
        if not splits:
            raise DatasetError(f"dataset: split {split!r} asked for but {splits_csv} is missing. "
                               f"Fix: --split {ALL} evaluates every image of labels.csv")
        known = sorted(set(splits.values()))
        if split not in known:
            raise DatasetError(f"dataset: unknown split {split!r}; {splits_csv} has {known}. "
                               f"Fix: one of {[*known, ALL]}")
    return labels_csv, _read_csv(labels_csv, ("id", "label")), splits


def _sample(root: Path, row: dict[str, str], splits: dict[str, str]) -> Sample:
    return Sample(id=row["id"], label=row["label"], split=splits.get(row["id"]),
                  image_path=root / "images" / f"{row['id']}.png",
                  mask_path=root / "masks" / f"{row['id']}.png")


def _in_split(sample: Sample, split: str | None) -> bool:
    return split is None or split == ALL or sample.split == split


def load_samples(root: str | Path, split: str | None = None) -> list[Sample]:
    """List the samples of a dataset folder, optionally one split of ``splits.csv``.

    Args:
        root: Folder with ``images/<id>.png``, ``masks/<id>.png``, ``labels.csv`` (id,label,...)
            and optionally ``splits.csv`` (id,...,split).
        split: ``train``, ``val``, ``test``, or ``all`` / None for every image.

    Raises:
        DatasetError: a missing file or column, an unknown label, or an unknown split.
    """
    root = Path(root)
    labels_csv, rows, splits = _rows(root, split)
    samples = []
    for row in rows:
        if row["label"] not in LABELS:
            raise DatasetError(f"dataset: {labels_csv} gives id {row['id']} the label "
                               f"{row['label']!r}; expected one of {list(LABELS)}")
        sample = _sample(root, row, splits)
        if _in_split(sample, split):
            samples.append(sample)
    return samples


def scan_samples(root: str | Path, split: str | None = None) -> tuple[list[Sample], list[BadRow]]:
    """The samples of a split that can be evaluated, and every row that cannot, with why.

    Unlike :func:`load_samples` a bad row does not stop the listing: an unknown label, an id
    given twice, a missing image, or (for a lesion) a missing mask or one of another size than
    its image is returned as a :class:`BadRow`. Sizes come from the PNG headers, so a scan reads
    a few bytes per file.

    Raises:
        DatasetError: no ``labels.csv``, a missing column, or an unknown split.
    """
    root = Path(root)
    _, rows, splits = _rows(root, split)
    good: list[Sample] = []
    bad: list[BadRow] = []
    seen: set[str] = set()
    for row in rows:
        sample = _sample(root, row, splits)
        if not _in_split(sample, split):
            continue
        problem = _problem(sample, seen)
        seen.add(sample.id)
        if problem is None:
            good.append(sample)
        else:
            bad.append(BadRow(sample.id, problem))
    return good, bad


def _problem(sample: Sample, seen: set[str]) -> str | None:
    if sample.id in seen:
        return "id given twice in labels.csv"
    if sample.label not in LABELS:
        return f"label {sample.label!r}, expected one of {list(LABELS)}"
    if not sample.image_path.is_file():
        return f"image {sample.image_path} is missing"
    if sample.label == "normal":  # a normal image's mask is not used
        return None
    if not sample.mask_path.is_file():
        return f"mask {sample.mask_path} is missing"
    image_hw, mask_hw = image_size(sample.image_path), image_size(sample.mask_path)
    if image_hw is None:
        return f"image {sample.image_path} is not a readable image"
    if mask_hw is None:
        return f"mask {sample.mask_path} is not a readable image"
    if image_hw != mask_hw:
        return f"mask is {mask_hw[1]}x{mask_hw[0]}, its image {image_hw[1]}x{image_hw[0]}"
    return None


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) of an image file, from its PNG header or else by decoding it; None if
    it is not an image."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(height), int(width)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if image is None else (int(image.shape[0]), int(image.shape[1]))


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
