"""Training of the segmenter and the classifier: seeded, resumable, early-stopped on val.

Each run writes into its folder ``out``:

- ``last.pt``: model, optimizer, epoch, history; ``--resume`` continues from it;
- ``best.pt``: the model of the best val epoch and its config (what export reads);
- ``history.json``: per-epoch train loss, val metric, seconds.

Checkpoints hold only tensors and plain values, so they load with ``weights_only=True``.
The val split selects the epoch; the test split is never read here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from edge_sdk.manifest import InputSpec, PipelineParams
from edge_sdk.metrics import dice_iou, roc_auc
from edge_sdk.roi import find_regions
from export.augment import AugmentConfig
from export.data import (
    CropData,
    Frame,
    SegmentationData,
    balanced_order,
    batches,
    dataset_roots,
    default_data_dir,
    gt_crops,
    load_frames,
    predicted_crops,
    split_digest,
)
from export.errors import ExportError
from export.models import INPUT_MEAN, INPUT_STD, build_model, get_entry


@dataclass
class TrainConfig:
    """Everything a run depends on (saved in its checkpoints)."""

    role: str
    arch: str
    out: str
    data: str = field(default_factory=lambda: str(default_data_dir()))
    size: int = 0  # 0: the registry's default
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0
    pretrained: bool = True
    threads: int = 2
    limit: int = 0  # >0: use only this many frames per split (tests, smoke runs)
    segmenter: str = ""  # classifier only: a segmenter best.pt whose predictions add crops
    augment: bool = True
    init_from: str = ""  # a checkpoint of the same net to start from (a second, shorter schedule)
    # >0: keep an exponential moving average of the weights (timm's ModelEmaV3) and validate,
    # select and export the average; it smooths the epoch-to-epoch swings of a small val split
    ema_decay: float = 0.0
    # several datasets (``data`` joined by os.pathsep): each epoch draws every dataset equally
    balance: bool = True

    def input_spec(self) -> InputSpec:
        size = self.size or get_entry(self.role, self.arch).default_size
        batch = 1 if self.role == "segmenter" else -1
        return InputSpec(name="image" if self.role == "segmenter" else "crop",
                         shape=(batch, 1, size, size), color="gray", mean=INPUT_MEAN,
                         std=INPUT_STD)


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE plus soft Dice over the batch: BCE for calibrated pixels, Dice for small lesions."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum() + target.sum() + 1.0)
    return bce + dice


def _lr(config: TrainConfig, epoch: int) -> float:
    """Cosine decay from ``lr`` with one warm-up epoch; stateless, so resuming is exact."""
    if epoch == 0:
        return config.lr * 0.3
    return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(1, config.epochs)))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by this module (``weights_only=True``), or a bundle's
    ``.safetensors`` weights (:mod:`export.weights`) in the same form."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from export.weights import load_weights

        return load_weights(path)
    if not path.is_file():
        raise ExportError(f"checkpoint {path} does not exist. Fix: train first "
                          "(edge-sdk-export train ...) or pass the run's best.pt")
    return torch.load(path, map_location="cpu", weights_only=True)


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the net of a ``best.pt``/``last.pt`` (no pretrained download or load)."""
    ckpt = load_checkpoint(path)
    config = TrainConfig(**ckpt["config"])
    model = build_model(config.role, config.arch, pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.eval(), config


@torch.no_grad()
def predict_probability(model: nn.Module, frames: list[Frame], spec: InputSpec,
                        batch_size: int = 8) -> list[np.ndarray]:
    """Full-resolution lesion probability maps, resized as the runtime resizes them."""
    data = SegmentationData(frames, spec)
    maps = []
    for idx in batches(len(data), batch_size, None):
        x, _ = data.batch(idx, None)
        prob = torch.sigmoid(model(torch.from_numpy(x))).numpy()[:, 0]
        for i, p in zip(idx, prob):
            h, w = frames[int(i)].image.shape
            maps.append(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR))
    return maps


def segmentation_val(model: nn.Module, frames: list[Frame], spec: InputSpec,
                     params: PipelineParams) -> dict[str, float]:
    """Val Dice at original resolution (as ``edge-sdk eval``), per dataset and overall.

    ``dice`` (what selects the epoch) is the mean of the datasets' mean Dice, so that each
    dataset, i.e. each group of scanners, weighs the same; ``dice_<dataset>`` each one's;
    ``normal_fp_<dataset>`` the share of its normal frames with any region the runtime would
    keep (datasets with normal frames only).
    """
    maps = predict_probability(model, frames, spec)
    per: dict[str, list[float]] = {}
    flagged: dict[str, list[float]] = {}
    for frame, prob in zip(frames, maps):
        if frame.sample.label == "normal":  # what the runtime would keep: edge_sdk.roi
            min_area = max(1, math.ceil(params.min_lesion_area_fraction * prob.size))
            _, regions = find_regions(prob, params.segmentation_threshold, min_area,
                                      params.min_lesion_peak)
            flagged.setdefault(frame.dataset, []).append(float(bool(regions)))
        else:
            lesion = (prob >= params.segmentation_threshold).astype(np.uint8)
            per.setdefault(frame.dataset, []).append(dice_iou(lesion, frame.mask)[0])
    scores = {f"dice_{name or 'data'}": float(np.mean(v)) for name, v in per.items()}
    scores.update({f"normal_fp_{name or 'data'}": float(np.mean(v))
                   for name, v in flagged.items()})
    scores["dice"] = float(np.mean([np.mean(v) for v in per.values()])) if per else 0.0
    return scores


@torch.no_grad()
def classification_val(model: nn.Module, data: CropData) -> dict[str, float]:
    """AUC of the malignancy logit over the val crops, per dataset and their mean (``auc``)."""
    scores = []
    for idx in batches(len(data), 32, None):
        x, _ = data.batch(idx, None)
        scores.extend(model(torch.from_numpy(x))[:, 0].tolist())
    targets = data.targets.astype(int)
    names = np.asarray(data.datasets)
    result = {}
    for name in sorted(set(names.tolist())):
        t = targets[names == name].tolist()
        s = np.asarray(scores)[names == name].tolist()
        result[f"auc_{name or 'data'}"] = float(roc_auc(t, s)) if 0 < sum(t) < len(t) else 0.5
    result["auc"] = float(np.mean(list(result.values())))
    return result


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", mininterval=5.0, dynamic_ncols=True)


def _fit(config: TrainConfig, model: nn.Module, train: SegmentationData | CropData,
         loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
         validate: Callable[[nn.Module], dict[str, float]], metric: str,
         resume: bool, stop_after: int | None = None) -> dict[str, Any]:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    ema = _ema(model, config.ema_decay)
    start, history, best, best_epoch = 0, [], -math.inf, -1
    last = out / "last.pt"
    if resume and last.is_file():
        ckpt = load_checkpoint(last)
        # threads only changes speed, not the result: a run may resume with another count;
        # options added since a checkpoint was written count as their defaults
        saved = {**_config_defaults(), **ckpt["config"], "threads": 0}
        if saved != {**dataclasses.asdict(config), "threads": 0}:
            raise ExportError(f"resume: {last} was written with another config "
                              f"({ckpt['config']}); use a fresh --out or the same options")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if ema is not None:
            ema.module.load_state_dict(ckpt["ema"])
        start, history = ckpt["epoch"] + 1, ckpt["history"]
        best, best_epoch = ckpt["best"], ckpt["best_epoch"]
        print(f"resumed from {last} at epoch {start} (best {metric} {best:.4f} @ {best_epoch})")
    for epoch in range(start, config.epochs):
        if epoch - best_epoch > config.patience and best_epoch >= 0:
            print(f"early stop: no val {metric} gain for {config.patience} epochs")
            break
        t0 = time.time()
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 1000 + epoch)
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, epoch)
        model.train()
        losses = []
        bar = _progress(_epoch_size(config, train), f"{config.role} {config.arch} epoch {epoch}")
        for idx in _epoch_batches(config, train, rng):
            if len(idx) < 2:  # BatchNorm needs 2+ samples
                continue
            x, y = train.batch(idx, rng)
            loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update(model)
            losses.append(loss.item())
            bar.update(len(idx))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        bar.close()
        selected = model if ema is None else ema.module  # what val scores and best.pt holds
        selected.eval()
        scores = validate(selected)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), **scores,
                  "lr": _lr(config, epoch), "seconds": round(time.time() - t0, 1)}
        history.append(record)
        improved = scores[metric] > best
        if improved:
            best, best_epoch = scores[metric], epoch
            torch.save({"model": selected.state_dict(), "config": dataclasses.asdict(config),
                        "epoch": epoch, "val": scores}, out / "best.pt")
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "config": dataclasses.asdict(config), "epoch": epoch, "history": history,
                 "best": best, "best_epoch": best_epoch}
        if ema is not None:
            state["ema"] = ema.module.state_dict()
        torch.save(state, last)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        others = " ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != metric)
        print(f"epoch {epoch}: loss {record['loss']:.4f} val {metric} {scores[metric]:.4f} "
              f"{'*best*' if improved else ''} ({record['seconds']} s) [{others}]", flush=True)
        if stop_after is not None and epoch >= stop_after:
            print(f"stopped after epoch {epoch} as asked (--stop-after); --resume continues")
            break
    return {"best": best, "best_epoch": best_epoch, "history": history,
            "best_path": str(out / "best.pt")}


def _balanced(config: TrainConfig, train: SegmentationData | CropData) -> bool:
    return config.balance and len(set(train.datasets)) > 1


def _epoch_size(config: TrainConfig, train: SegmentationData | CropData) -> int:
    if not _balanced(config, train):
        return len(train)
    names = train.datasets
    return min(names.count(n) for n in set(names)) * len(set(names))


def _epoch_batches(config: TrainConfig, train: SegmentationData | CropData,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's index batches: shuffled, with every dataset weighted alike when balanced."""
    if not _balanced(config, train):
        return list(batches(len(train), config.batch_size, rng))
    order = balanced_order(train.datasets, rng)
    return [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]


def _config_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}


def _ema(model: nn.Module, decay: float) -> Any:
    """timm's weight EMA of ``model``, or None when ``decay`` is 0."""
    if decay == 0.0:
        return None
    if not 0.0 < decay < 1.0:
        raise ExportError(f"ema_decay is {decay}; expected 0 (off) or a value in (0, 1), "
                          "e.g. 0.99 for a few hundred steps per epoch")
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def _initial_model(config: TrainConfig) -> nn.Module:
    """The registry's net (ImageNet init where available), or the weights of ``init_from``."""
    model = build_model(config.role, config.arch, config.pretrained and not config.init_from)
    if config.init_from:
        ckpt = load_checkpoint(config.init_from)
        if (ckpt["config"]["role"], ckpt["config"]["arch"]) != (config.role, config.arch):
            raise ExportError(f"init_from: {config.init_from} holds a {ckpt['config']['arch']} "
                              f"{ckpt['config']['role']}, not a {config.arch} {config.role}")
        model.load_state_dict(ckpt["model"])
        print(f"initialized from {config.init_from} (epoch {ckpt['epoch']})")
    return model


def _setup(config: TrainConfig) -> None:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)


def train_segmenter(config: TrainConfig, resume: bool = False,
                    stop_after: int | None = None) -> dict[str, Any]:
    """Train a registered segmenter with Dice+BCE; select the epoch by val Dice.

    Args:
        config: The run's settings.
        resume: Continue from ``out/last.pt`` if it exists.
        stop_after: Stop after this epoch (the schedule still spans ``config.epochs``).
    """
    _setup(config)
    spec, params = config.input_spec(), PipelineParams()
    limit = config.limit or None
    train = SegmentationData(load_frames(config.data, "train", limit), spec,
                             AugmentConfig() if config.augment else None)
    val_frames = load_frames(config.data, "val", limit)
    model = _initial_model(config)
    print(f"segmenter {config.arch}: {len(train)} train / {len(val_frames)} val frames "
          f"from {[r.name for r in dataset_roots(config.data)]}, {_epoch_size(config, train)} "
          f"per epoch, input {spec.shape}, split sha256 {split_digest(config.data)[:12]}")
    return _fit(config, model, train, dice_bce_loss,
                lambda m: segmentation_val(m, val_frames, spec, params), "dice", resume,
                stop_after)


def classifier_crops(config: TrainConfig, frames: list[Frame], params: PipelineParams
                     ) -> list:
    """Ground-truth crops, plus the segmenter's predicted crops when a segmenter is given."""
    crops = gt_crops(frames, params)
    if config.segmenter:
        segmenter, seg_config = model_from_checkpoint(config.segmenter)
        maps = predict_probability(segmenter, frames, seg_config.input_spec())
        crops += predicted_crops(frames, maps, params)
    return crops


def train_classifier(config: TrainConfig, resume: bool = False,
                     stop_after: int | None = None) -> dict[str, Any]:
    """Train a registered classifier on runtime-made crops; select the epoch by val AUC.

    Class balance: the BCE's positive weight is #benign / #malignant crops of the train split.
    """
    _setup(config)
    spec, params = config.input_spec(), PipelineParams()
    limit = config.limit or None
    train_frames = load_frames(config.data, "train", limit)
    val_frames = load_frames(config.data, "val", limit)
    train = CropData(train_frames, classifier_crops(config, train_frames, params), spec, params,
                     AugmentConfig() if config.augment else None)
    val = CropData(val_frames, classifier_crops(config, val_frames, params), spec, params)
    positives = float(train.targets.sum())
    pos_weight = torch.tensor([(len(train) - positives) / max(1.0, positives)])
    print(f"classifier {config.arch}: {len(train)} train crops ({int(positives)} malignant), "
          f"{len(val)} val crops, input {spec.shape}, pos_weight {float(pos_weight):.2f}")
    model = _initial_model(config)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits, target,
                                                              pos_weight=pos_weight)

    return _fit(config, model, train, loss_fn, lambda m: classification_val(m, val), "auc",
                resume, stop_after)
