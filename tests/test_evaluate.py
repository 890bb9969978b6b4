"""edge-sdk eval's metrics over a dataset folder written by the test, and over BUSI."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import DatasetError, Pipeline
from edge_sdk.dataset import load_samples, read_mask
from edge_sdk.evaluate import evaluate
from edge_sdk.testing import synthetic_frame

EXPECTED_KEYS = {"dice", "iou", "auc", "sensitivity", "specificity", "f1", "normal_fp_rate",
                 "n_benign", "n_malignant", "n_normal", "bundle_digest"}


def write_dataset(root: Path) -> Path:
    """Six images: lesions of known shape (benign/malignant) and normal frames."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    cases = [("benign", (160, 120, 40, 25)), ("benign", (100, 90, 30, 30)),
             ("malignant", (200, 130, 35, 20)), ("malignant", (150, 100, 25, 35)),
             ("normal", None), ("normal", None)]
    for i, (label, ellipse) in enumerate(cases):
        sample_id = f"{label}_{i:03d}"
        frame = synthetic_frame(lesions=[ellipse] if ellipse else [], seed=i)
        mask = np.zeros(frame.shape, np.uint8)
        if ellipse:
            cx, cy, ax, ay = ellipse
            cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, thickness=-1)
        cv2.imwrite(str(root / "images" / f"{sample_id}.png"), frame)
        cv2.imwrite(str(root / "masks" / f"{sample_id}.png"), mask)
        rows.append((sample_id, label, "test" if i % 2 == 0 else "val"))
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("id", "label", "source_file")] + [(r[0], r[1], "") for r in rows])
    with open(root / "splits.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("id", "label", "split", "group")] + [(*r, "g") for r in rows])
    return root


def test_evaluate_synthetic_dataset(tmp_path: Path, tiny_bundle) -> None:
    root = write_dataset(tmp_path / "data")
    samples = load_samples(root)
    assert len(samples) == 6 and len(load_samples(root, "test")) == 3
    with Pipeline(tiny_bundle) as pipeline:
        report = evaluate(pipeline, samples, progress=False)
    assert set(report) >= EXPECTED_KEYS
    assert (report["n_benign"], report["n_malignant"], report["n_normal"]) == (2, 2, 2)
    assert report["dice"] > 0.85 and report["iou"] > 0.75
    assert report["normal_fp_rate"] == 0.0
    assert 0.0 <= report["auc"] <= 1.0
    assert report["bundle_digest"] == tiny_bundle.digest


def test_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="labels.csv is missing"):
        load_samples(tmp_path)
    root = write_dataset(tmp_path / "data")
    with pytest.raises(DatasetError, match=r"unknown split 'tset'; .* has \['test', 'val'\]"):
        load_samples(root, "tset")
    (root / "labels.csv").write_text("id,label\nx,cancer\n")
    with pytest.raises(DatasetError, match="label 'cancer'"):
        load_samples(root)


def test_read_mask_binary(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data")
    mask = read_mask(root / "masks" / "benign_000.png")
    assert set(np.unique(mask)) == {0, 1}


@pytest.mark.busi
def test_busi_test_split_counts(busi: Path) -> None:
    samples = load_samples(busi, "test")
    labels = [s.label for s in samples]
    assert (labels.count("benign"), labels.count("malignant"), labels.count("normal")) == (65, 32, 19)
    assert all(s.image_path.is_file() and s.mask_path.is_file() for s in samples)
