"""edge-sdk eval's metrics over a dataset folder written by the test, and over BUSI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import DatasetError, Pipeline
from edge_sdk.cli import main
from edge_sdk.dataset import ALL, load_samples, read_mask, scan_samples
from edge_sdk.evaluate import evaluate
from edge_sdk.testing import synthetic_frame

EXPECTED_KEYS = {"dice", "iou", "auc", "sensitivity", "specificity", "f1", "normal_fp_rate",
                 "n_benign", "n_malignant", "n_normal", "bundle_digest"}


def write_dataset(root: Path, splits: bool = True) -> Path:
    """Six images: lesions of known shape (benign/malignant) and normal frames.

    With ``splits=False`` the folder is the least a dataset needs: images/, masks/ and a
    labels.csv of only ``id,label``.
    """
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
        if splits:
            csv.writer(handle).writerows([("id", "label", "source_file")]
                                         + [(r[0], r[1], "") for r in rows])
        else:
            csv.writer(handle).writerows([("id", "label")] + [(r[0], r[1]) for r in rows])
    if splits:
        with open(root / "splits.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([("id", "label", "split", "group")]
                                         + [(*r, "g") for r in rows])
    return root


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | None, str]:
    """``edge-sdk eval ARGS`` in this process: exit status, the JSON report (if any), stderr."""
    status = main(["eval", "--no-progress", *args])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else None), err


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


def test_eval_a_folder_with_only_images_masks_and_labels(tmp_path: Path, tiny_bundle_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = write_dataset(tmp_path / "data", splits=False)
    status, report, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir))
    assert status == 0, err
    assert report is not None and report["split"] == ALL and report["n_images"] == 6
    assert (report["n_benign"], report["n_malignant"], report["n_normal"]) == (2, 2, 2)
    assert report["n_bad_rows"] == 0 and report["bad_rows"] == []
    assert "split 'all' (every row of labels.csv, no splits.csv): 6 images" in err
    status, _, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir),
                              "--split", "test")
    assert status == 1 and "splits.csv is missing" in err and "Fix: --split all" in err


def test_eval_defaults_to_the_test_split_and_all_takes_every_image(
        tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_dataset(tmp_path / "data")
    status, report, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir))
    assert status == 0 and report is not None, err
    assert (report["split"], report["n_images"]) == ("test", 3)
    assert "split 'test' (of splits.csv): 3 images" in err
    status, report, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir),
                                   "--split", "all")
    assert status == 0 and report is not None, err
    assert (report["split"], report["n_images"]) == ("all", 6)


def _break_three_rows(root: Path) -> None:
    """A missing image, a mask of another size, an unknown label."""
    (root / "images" / "benign_000.png").unlink()
    cv2.imwrite(str(root / "masks" / "malignant_002.png"), np.zeros((50, 60), np.uint8))
    with open(root / "labels.csv", "a", newline="") as handle:
        csv.writer(handle).writerow(("cyst_009", "cyst"))


def test_bad_rows_stop_the_run_with_their_ids(tmp_path: Path, tiny_bundle_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = write_dataset(tmp_path / "data", splits=False)
    _break_three_rows(root)
    json_out = tmp_path / "report.json"
    status, _, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir),
                              "--json", str(json_out))
    assert status == 1 and not json_out.exists()
    assert "3 bad rows" in err and "3 row(s)" in err and "--skip-bad" in err
    assert "bad row benign_000: image" in err and "is missing" in err
    assert "bad row malignant_002: mask is 60x50, its image" in err
    assert "bad row cyst_009: label 'cyst'" in err


def test_skip_bad_evaluates_the_rest_and_counts_what_it_left_out(
        tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_dataset(tmp_path / "data", splits=False)
    _break_three_rows(root)
    status, report, err = run_eval(capsys, "--data", str(root), "--bundle", str(tiny_bundle_dir),
                                   "--skip-bad")
    assert status == 0 and report is not None, err
    assert report["n_images"] == 4 and report["n_bad_rows"] == 3
    assert [row["id"] for row in report["bad_rows"]] == ["benign_000", "malignant_002",
                                                         "cyst_009"]
    assert (report["n_benign"], report["n_malignant"], report["n_normal"]) == (1, 1, 2)


def test_scan_samples_reads_sizes_from_png_headers(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", splits=False)
    good, bad = scan_samples(root)
    assert len(good) == 6 and bad == []
    assert load_samples(root, ALL) == load_samples(root) == good


def test_rank_auc_is_scikit_learns_auc_with_ties() -> None:
    """The bootstrap's AUC is the same number as the point estimate's (scikit-learn)."""
    from edge_sdk.evaluate import rank_auc
    from edge_sdk.metrics import roc_auc

    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.integers(0, 2, 40)
        scores = np.round(rng.random(40), 1)  # coarse: many ties
        assert rank_auc(y, scores) == pytest.approx(roc_auc(list(y), list(scores)), abs=1e-12)
    assert np.isnan(rank_auc([1, 1], [0.2, 0.3]))
