"""Fixtures of the toolchain tests: a synthetic BUSI-layout dataset and tiny trained nets.

The dataset is drawn with :func:`edge_sdk.testing.synthetic_frame` (dark elliptical "lesions"
in speckle), so every toolchain test runs without the real BUSI folder and in seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # see tiny_checkpoints: the machine may be shared

from edge_sdk.testing import synthetic_frame  # noqa: E402

SEG_SIZE = 64
CLS_SIZE = 32


def make_synthetic_busi(root: Path, n_train: int = 10, n_val: int = 6) -> Path:
    """Write images/, masks/, labels.csv, splits.csv with known lesions (and some normals)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    labels, splits = ["id,label,source_file"], ["id,label,split,group"]
    rng = np.random.default_rng(0)
    for i in range(n_train + n_val):
        split = "train" if i < n_train else "val"
        label = ("benign", "malignant", "normal")[i % 3]
        sample_id = f"{label}_{i:03d}"
        lesions = () if label == "normal" else (
            (int(rng.integers(60, 100)), int(rng.integers(50, 70)),
             10 if label == "benign" else 22, 10 if label == "benign" else 16),)
        frame = synthetic_frame(120, 160, lesions, seed=i)
        mask = np.zeros((120, 160), np.uint8)
        for cx, cy, ax, ay in lesions:
            cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, thickness=-1)
        cv2.imwrite(str(root / "images" / f"{sample_id}.png"), frame)
        cv2.imwrite(str(root / "masks" / f"{sample_id}.png"), mask)
        labels.append(f"{sample_id},{label},synthetic")
        splits.append(f"{sample_id},{label},{split},g{i:03d}")
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    (root / "splits.csv").write_text("\n".join(splits) + "\n")
    return root


@pytest.fixture(scope="session")
def synthetic_busi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_busi(tmp_path_factory.mktemp("busi"))


@pytest.fixture(scope="session")
def tiny_checkpoints(synthetic_busi: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> tuple[Path, Path]:
    """A segmenter and a classifier trained for 2 epochs at tiny sizes (best.pt paths)."""
    from export.train import TrainConfig, train_classifier, train_segmenter

    # One thread: the CI machine has two cores and may run other work; oversubscribed OpenMP
    # threads slow training by an order of magnitude.
    runs = tmp_path_factory.mktemp("runs")
    seg = TrainConfig(role="segmenter", arch="unet_lite0", out=str(runs / "seg"),
                      data=str(synthetic_busi), size=SEG_SIZE, epochs=2, batch_size=4,
                      threads=1)
    train_segmenter(seg)
    cls = TrainConfig(role="classifier", arch="mobilenetv3_small_100", out=str(runs / "cls"),
                      data=str(synthetic_busi), size=CLS_SIZE, epochs=2, batch_size=4, threads=1,
                      segmenter=str(runs / "seg" / "best.pt"))
    train_classifier(cls)
    return runs / "seg" / "best.pt", runs / "cls" / "best.pt"
