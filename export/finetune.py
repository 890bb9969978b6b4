"""Adapt a bundle to a user's scanner: fine-tune both nets on a small labelled set.

``edge-sdk-export finetune --from BUNDLE --data MYDATA --out NEW`` starts from the fp32 weights
a family bundle ships (``<role>.fp32.safetensors``), trains each net a few epochs on MYDATA's
``train`` split at a small learning rate (selecting the epoch on its ``val`` split), then runs
the same conversion, fidelity check and accuracy gate as any build and writes a new family
whose manifest names its parent (``provenance.parent``: name, version, digest).

The pipeline parameters (thresholds, lesion limits, mirror passes) are the parent's: they are
clinical settings chosen on the parent's validation data, and a few dozen images cannot
re-choose them reliably; ``retune=True`` searches them on MYDATA's val split instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from edge_sdk.bundle import Bundle, load_bundle, write_bundle_manifest
from export.errors import ExportError


@dataclass
class FinetuneOptions:
    """Settings of :func:`finetune`."""

    parent: Path
    data: str  # one dataset folder, or several joined by os.pathsep (e.g. MYDATA plus BUSI)
    out: Path
    work: Path
    epochs: int = 6
    segmenter_lr: float = 1e-4
    classifier_lr: float = 1e-4
    ema_decay: float = 0.0
    threads: int = 2
    retune: bool = False
    targets: tuple[str, ...] | None = None  # None: the parent family's other quantized members
    max_drop: float = 0.01


def parent_weights(bundle: Bundle) -> dict[str, Path]:
    """Each net's ``safetensors`` weights in ``bundle``.

    Raises:
        ExportError: a net has none (a bundle built before families, or a single-target one).
    """
    weights = {}
    for role, spec in bundle.manifest.models.items():
        found = spec.artifacts_of("safetensors")
        if not found:
            raise ExportError(f"finetune: the {role} of {bundle.root} ships no fp32 weights "
                              "(no 'safetensors' artifact). Fix: fine-tune from a model-family "
                              "bundle (edge-sdk-export family), e.g. the shipped default")
        weights[role] = bundle.artifact_path(role, found[0])
    return weights


def family_targets(parent: Bundle, asked: tuple[str, ...] | None) -> tuple[str, ...]:
    """The targets a fine-tuned family carries beside its main one and ``fp32``: ``asked``, or
    the parent family's (a parent without ``int8-trt`` has none, so none is built)."""
    if asked is not None:
        return asked
    members = parent.manifest.provenance.get("family", {})
    main = parent.manifest.provenance.get("target", "int8-cpu")
    return tuple(t for t in members if t not in (main, "fp32"))


def _train(role: str, weights: Path, options: FinetuneOptions) -> Path:
    from export.train import TrainConfig, load_checkpoint, train_classifier, train_segmenter

    saved = load_checkpoint(weights)["config"]
    lr = options.segmenter_lr if role == "segmenter" else options.classifier_lr
    config = TrainConfig(**{**saved, "out": str(Path(options.work) / role), "data": options.data,
                            "init_from": str(weights), "epochs": options.epochs, "lr": lr,
                            "patience": options.epochs, "ema_decay": options.ema_decay,
                            "threads": options.threads, "limit": 0, "segmenter": "",
                            "pretrained": False})
    run = train_segmenter if role == "segmenter" else train_classifier
    return Path(run(config, resume=True)["best_path"])


def finetune(options: FinetuneOptions) -> Bundle:
    """Fine-tune the parent's nets on ``options.data`` and write the gated new family.

    Raises:
        ExportError: the parent ships no weights, or the data has no train/val split.
        GateError: the converted nets lost more than ``max_drop`` on MYDATA's val split.
    """
    from export.build import BuildOptions
    from export.data import load_frames
    from export.family import build_family_from_checkpoints

    parent = load_bundle(options.parent)
    weights = parent_weights(parent)
    train_frames = load_frames(options.data, "train")  # fails early, naming a missing split
    load_frames(options.data, "val")
    checkpoints = {role: _train(role, path, options) for role, path in weights.items()}
    target = parent.manifest.provenance.get("target", "int8-cpu")
    build = BuildOptions(
        target=target, out=options.out, work=Path(options.work) / "bundles",
        data=Path(options.data), params=parent.manifest.pipeline, tune=options.retune,
        threads=options.threads, name=parent.manifest.name, max_drop=options.max_drop,
        # a small set calibrates on what it has (every train frame and crop), recorded below
        min_calibration=min(200, sum(f.sample.label != "normal" for f in train_frames)))
    family = build_family_from_checkpoints(checkpoints["segmenter"], checkpoints["classifier"],
                                           build, family_targets(parent, options.targets))
    provenance = {**family.manifest.provenance,
                  "parent": {"name": parent.manifest.name, "version": parent.manifest.version,
                             "digest": parent.digest, "path": str(parent.root)},
                  "finetune": {"data": options.data, "train_frames": len(train_frames),
                               "epochs": options.epochs, "segmenter_lr": options.segmenter_lr,
                               "classifier_lr": options.classifier_lr,
                               "pipeline": "retuned on val" if options.retune
                               else "the parent's"}}
    return write_bundle_manifest(family.root,
                                 dataclasses.replace(family.manifest, provenance=provenance))
