"""A few patients of a dataset as a dataset of their own: what a user's small labelled set is.

``edge-sdk-export subset --data BUSBRA --groups 20 --out MYDATA`` picks 20 patients (the
``group`` column of ``splits.csv``) of one split at random with a fixed seed and writes MYDATA in
the shared layout: ``labels.csv`` and ``splits.csv`` of those patients only, split again into
``train`` and ``val`` by patient (each label represented in ``val`` where it can be), and
``images/`` and ``masks/`` as links to the source's folders (nothing is copied). Fine-tuning on
such a folder measures what :mod:`export.finetune` does with tens of images from a new scanner.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from edge_sdk.dataset import load_samples
from export.errors import ExportError


def patient_subset(source: str | Path, out: str | Path, groups: int, split: str = "train",
                   val_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write a dataset of ``groups`` patients of ``source``'s ``split`` into ``out``.

    Args:
        source: Dataset folder in the shared layout whose ``splits.csv`` has a ``group`` column.
        out: New folder (must not exist or be empty).
        groups: How many patients to take.
        split: The split of ``source`` they come from (``train``: nothing of val/test leaks).
        val_fraction: Share of the chosen patients that become the new ``val`` split (≥ 1).
        seed: Seed of the choice.

    Returns:
        ``out``.

    Raises:
        ExportError: no group column, too few patients, or ``out`` holds files.
    """
    source, out = Path(source).resolve(), Path(out)
    rows = _split_rows(source)
    if any(not row.get("group") for row in rows):
        raise ExportError(f"subset: {source / 'splits.csv'} has no 'group' (patient) value on "
                          "every row; expected id,label,split,group")
    by_group: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["split"] == split:
            by_group[row["group"]].append(row)
    if groups < 2 or groups > len(by_group):
        raise ExportError(f"subset: asked for {groups} patients of split {split!r}; {source} has "
                          f"{len(by_group)} there. Expected 2 to {len(by_group)}")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"subset: {out} is not empty. Fix: name a new folder")
    rng = np.random.default_rng(seed)
    chosen = [sorted(by_group)[i] for i in rng.choice(len(by_group), size=groups, replace=False)]
    val = _val_groups(chosen, by_group, max(1, math.ceil(groups * val_fraction)))
    out.mkdir(parents=True, exist_ok=True)
    kept = [row for g in chosen for row in by_group[g]]
    labels = {s.id: s for s in load_samples(source)}
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows([row["id"], labels[row["id"]].label] for row in kept)
    with open(out / "splits.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "split", "group"])
        writer.writerows([row["id"], labels[row["id"]].label,
                          "val" if row["group"] in val else "train", row["group"]] for row in kept)
    for folder in ("images", "masks"):
        os.symlink(source / folder, out / folder, target_is_directory=True)
    summary = {"source": str(source), "split": split, "patients": groups, "seed": seed,
               "val_patients": len(val), "images": len(kept),
               "labels": dict(Counter(labels[row["id"]].label for row in kept))}
    (out / "subset.json").write_text(json.dumps(summary, indent=1) + "\n")
    return out


def _split_rows(source: Path) -> list[dict[str, str]]:
    path = source / "splits.csv"
    if not path.is_file():
        raise ExportError(f"subset: {source} has no splits.csv; expected the shared layout")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _val_groups(chosen: list[str], by_group: dict[str, list[dict[str, str]]],
                n_val: int) -> set[str]:
    """``n_val`` of the chosen patients, taking each label's patients in turn."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for group in chosen:
        by_label[by_group[group][0]["label"]].append(group)
    queues = [by_label[label] for label in sorted(by_label)]
    val: list[str] = []
    while len(val) < n_val:
        for queue in queues:
            if queue and len(val) < n_val:
                val.append(queue.pop(0))
    return set(val)
