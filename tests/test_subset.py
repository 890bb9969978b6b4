"""``edge-sdk-export subset``: a few patients of a dataset, split again by patient."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.dataset import load_samples
from export.errors import ExportError
from export.subset import patient_subset


def write_grouped(root: Path, patients: int = 10) -> Path:
    """``patients`` patients of two views each, alternately benign and malignant, all train."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for p in range(patients):
        label = "benign" if p % 2 == 0 else "malignant"
        for view in "lr":
            sample_id = f"bus_{p:03d}-{view}"
            cv2.imwrite(str(root / "images" / f"{sample_id}.png"), np.full((8, 8), p, np.uint8))
            cv2.imwrite(str(root / "masks" / f"{sample_id}.png"), np.zeros((8, 8), np.uint8))
            rows.append((sample_id, label, "train", f"p{p:03d}"))
    rows.append(("bus_900-l", "benign", "test", "p900"))
    cv2.imwrite(str(root / "images" / "bus_900-l.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(root / "masks" / "bus_900-l.png"), np.zeros((8, 8), np.uint8))
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("id", "label")] + [r[:2] for r in rows])
    with open(root / "splits.csv", "w", newline="") as f:
        csv.writer(f).writerows([("id", "label", "split", "group")] + rows)
    return root


def test_subset_takes_whole_patients_of_one_split(tmp_path: Path) -> None:
    source = write_grouped(tmp_path / "src")
    out = patient_subset(source, tmp_path / "mine", groups=5, seed=1)
    train, val = load_samples(out, "train"), load_samples(out, "val")
    with open(out / "splits.csv", newline="") as f:
        groups = {row["id"]: row["group"] for row in csv.DictReader(f)}
    assert len(set(groups.values())) == 5 and len(train) + len(val) == 10
    assert not {groups[s.id] for s in train} & {groups[s.id] for s in val}  # by patient
    assert len({groups[s.id] for s in val}) == 1  # ceil(5 * 0.2)
    assert "bus_900-l" not in groups  # nothing of another split
    assert all(s.image_path.is_file() and s.mask_path.is_file() for s in train + val)
    summary = json.loads((out / "subset.json").read_text())
    assert summary["patients"] == 5 and summary["images"] == 10
    again = patient_subset(source, tmp_path / "again", groups=5, seed=1)
    assert (again / "splits.csv").read_text() == (out / "splits.csv").read_text()  # seeded


def test_subset_val_holds_each_label(tmp_path: Path) -> None:
    out = patient_subset(write_grouped(tmp_path / "src"), tmp_path / "mine", groups=8,
                         val_fraction=0.25)
    assert {s.label for s in load_samples(out, "val")} == {"benign", "malignant"}


@pytest.mark.parametrize("groups", [1, 11])
def test_subset_refuses_impossible_counts(tmp_path: Path, groups: int) -> None:
    with pytest.raises(ExportError, match="Expected 2 to 10"):
        patient_subset(write_grouped(tmp_path / "src"), tmp_path / "mine", groups=groups)


def test_subset_refuses_a_full_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        patient_subset(write_grouped(tmp_path / "src"), tmp_path / "mine", groups=3)


def test_subset_command_prints_its_summary(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch", reason="edge-sdk-export needs the export extra")
    from export.cli import main

    source = write_grouped(tmp_path / "src")
    assert main(["subset", "--data", str(source), "--groups", "4", "--out",
                 str(tmp_path / "mine")]) == 0
    assert json.loads(capsys.readouterr().out)["patients"] == 4
