"""Training: the loss falls over a few steps, runs write checkpoints, and resume continues."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk.manifest import PipelineParams  # noqa: E402
from export.augment import AugmentConfig, augment  # noqa: E402
from export.data import CropData, SegmentationData, gt_crops, load_frames  # noqa: E402
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
        assert out.shape == image.shape == out_mask.shape
        assert np.array_equal(out > 100, out_mask > 0) or abs(int((out > 100).sum()) - int(out_mask.sum())) < 60


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
