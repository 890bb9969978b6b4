"""Training: the loss falls over a few steps, runs write checkpoints, and resume continues."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk.manifest import PipelineParams  # noqa: E402
from export.augment import AugmentConfig, augment, match_histogram  # noqa: E402
from export.data import (  # noqa: E402
    CropData,
    SegmentationData,
    balanced_order,
    dataset_roots,
    gt_crops,
    load_frames,
    split_digest,
)
from export.errors import ExportError  # noqa: E402
from export.models import build_model  # noqa: E402
from export.train import TrainConfig, dice_bce_loss, load_checkpoint, train_segmenter  # noqa: E402


def _steps(model, loss_fn, x, y, steps: int = 6) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_segmenter_loss_decreases(synthetic_busi: Path) -> None:
    torch.manual_seed(0)
    spec = TrainConfig(role="segmenter", arch="unet_lite0", out="-", size=64).input_spec()
    data = SegmentationData(load_frames(synthetic_busi, "train"), spec)
    x, y = data.batch(np.arange(6), None)
    model = build_model("segmenter", "unet_lite0").train()
    losses = _steps(model, dice_bce_loss, torch.from_numpy(x), torch.from_numpy(y))
    assert losses[-1] < losses[0]


def test_classifier_loss_decreases(synthetic_busi: Path) -> None:
    torch.manual_seed(0)
    frames = load_frames(synthetic_busi, "train")
    spec = TrainConfig(role="classifier", arch="mobilenetv3_small_100", out="-",
                       size=32).input_spec()
    params = PipelineParams()
    data = CropData(frames, gt_crops(frames, params), spec, params)
    x, y = data.batch(np.arange(len(data)), None)
    model = build_model("classifier", "mobilenetv3_small_100").train()
    losses = _steps(model, torch.nn.functional.binary_cross_entropy_with_logits,
                    torch.from_numpy(x), torch.from_numpy(y))
    assert losses[-1] < losses[0]


def test_run_writes_checkpoints_and_resumes(synthetic_busi: Path, tmp_path: Path) -> None:
    config = TrainConfig(role="segmenter", arch="unet_lite0", out=str(tmp_path / "run"),
                         data=str(synthetic_busi), size=64, epochs=1, batch_size=4, threads=1)
    train_segmenter(config)
    config.epochs = 2
    with pytest.raises(ExportError, match="another config"):
        train_segmenter(config, resume=True)  # epochs is part of the config: refuse to mix
    first = load_checkpoint(tmp_path / "run" / "last.pt")
    assert first["epoch"] == 0 and (tmp_path / "run" / "best.pt").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["epoch"] == 0 and "dice" in history[0]


def test_resume_continues_from_last_epoch(synthetic_busi: Path, tmp_path: Path) -> None:
    config = TrainConfig(role="segmenter", arch="unet_lite0", out=str(tmp_path / "run"),
                         data=str(synthetic_busi), size=64, epochs=2, batch_size=4, patience=5,
                         threads=1)
    ckpt_dir = tmp_path / "run"
    ckpt_dir.mkdir()
    result = train_segmenter(config)
    assert [h["epoch"] for h in result["history"]] == [0, 1]
    again = train_segmenter(config, resume=True)  # nothing left to do: history unchanged
    assert again["history"] == result["history"]


def test_augment_keeps_mask_aligned_and_dtypes() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((100, 120), np.uint8)
    image[40:60, 50:80] = 200
    mask = (image > 0).astype(np.uint8)
    for _ in range(10):
        out, out_mask = augment(image, mask, rng, AugmentConfig(photometric=0, speckle=0, blur=0))
        assert out.dtype == np.uint8 and out_mask.dtype == np.uint8
        # a tighter or letterboxed field of view changes the size, in step for both
        assert out.shape == out_mask.shape
        assert 0.85 * 100 <= out.shape[0] <= 1.25 * 100
        assert np.array_equal(out > 100, out_mask > 0) or abs(int((out > 100).sum()) - int(out_mask.sum())) < 60


def test_scanner_augmentations_change_the_image_not_the_lesion() -> None:
    rng = np.random.default_rng(1)
    image = np.full((120, 100), 120, np.uint8)
    image[50:70, 40:60] = 30
    mask = (image < 60).astype(np.uint8)
    only = {"hflip": 0.0, "affine": 0.0, "photometric": 0.0, "blur": 0.0, "speckle": 0.0,
            "border": 0.0, "histogram_match": 0.0}
    out, out_mask = augment(image, mask, rng, AugmentConfig(**{**only, "tgc": 1.0,
                                                                "resolution": 1.0}))
    assert out.shape == image.shape and np.array_equal(out_mask, mask)
    assert out[:20].mean() != out[-20:].mean()  # gain now depends on depth
    for _ in range(20):  # the border cut never removes the whole lesion
        _, cut = augment(image, mask, rng, AugmentConfig(**{**only, "border": 1.0,
                                                             "max_border": 0.45}))
        assert cut is not None and cut.any()


def test_match_histogram_takes_the_reference_grey_levels() -> None:
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 80, (64, 64)).astype(np.uint8)
    bright = rng.integers(150, 256, (64, 64)).astype(np.uint8)
    matched = match_histogram(dark, bright)
    assert matched.dtype == np.uint8 and abs(float(matched.mean()) - float(bright.mean())) < 5
    order = np.argsort(dark.ravel(), kind="stable")  # the mapping keeps the grey-level order
    assert np.all(np.diff(matched.ravel()[order].astype(int)) >= 0)


def test_balanced_order_weighs_every_dataset_alike() -> None:
    names = ["small"] * 10 + ["large"] * 90
    order = balanced_order(names, np.random.default_rng(0))
    picked = np.asarray(names)[order]
    assert len(order) == 20 and (picked == "small").sum() == 10
    assert len(set(order[picked == "large"].tolist())) == 10  # no repeats while enough
    assert len(balanced_order(names, np.random.default_rng(0), per_dataset=30)) == 60


def test_several_datasets_load_with_their_names(synthetic_busi: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(synthetic_busi, other)
    spec = f"{synthetic_busi}{os.pathsep}{other}"
    frames = load_frames(spec, "train")
    assert {f.dataset for f in frames} == {synthetic_busi.name, "other"}
    assert len(frames) == 2 * len(load_frames(synthetic_busi, "train"))
    assert split_digest(spec) != split_digest(synthetic_busi)
    with pytest.raises(ExportError, match="named twice"):
        dataset_roots(f"{synthetic_busi}{os.pathsep}{synthetic_busi}")


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_stop_after_then_resume_equals_one_run(synthetic_busi: Path, tmp_path: Path,
                                               ema_decay: float) -> None:
    def config(out: str) -> TrainConfig:
        return TrainConfig(role="segmenter", arch="unet_lite0", out=str(tmp_path / out),
                           data=str(synthetic_busi), size=64, epochs=2, batch_size=4, threads=1,
                           augment=False, ema_decay=ema_decay)

    whole = train_segmenter(config("a"))
    first = train_segmenter(config("b"), stop_after=0)
    assert len(first["history"]) == 1
    rest = train_segmenter(config("b"), resume=True)
    assert [h["epoch"] for h in rest["history"]] == [0, 1]
    for a, b in zip(whole["history"], rest["history"]):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and abs(a["dice"] - b["dice"]) < 1e-5


def test_ema_weights_are_validated_and_kept(synthetic_busi: Path, tmp_path: Path) -> None:
    config = TrainConfig(role="segmenter", arch="unet_lite0", out=str(tmp_path / "run"),
                         data=str(synthetic_busi), size=64, epochs=1, batch_size=4, threads=1,
                         ema_decay=0.5)
    train_segmenter(config)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    key = next(k for k in best["model"] if k.endswith("weight"))
    # best.pt holds the average, which differs from the raw weights after a few steps
    assert torch.equal(best["model"][key], last["ema"][key])
    assert not torch.equal(best["model"][key], last["model"][key])
    config.ema_decay = 1.5
    with pytest.raises(ExportError, match="ema_decay is 1.5; expected 0 .off. or a value in"):
        train_segmenter(dataclasses.replace(config, out=str(tmp_path / "bad")))
