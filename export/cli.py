"""``edge-sdk-export``: the toolchain's command line (one subcommand per step).

Examples; they need the export extra, the BUSI dataset (``$BUSI_DIR``) and hours of CPU time for
training, and trained checkpoints for the later steps (the committed sequences:
``bash export/recipes/<name>.sh [OUT]``)::

    edge-sdk-export train segmenter unet_lite0 --out runs/seg_unet_lite0
    edge-sdk-export train classifier efficientnet_lite0 --segmenter runs/seg_unet_lite0/best.pt \\
        --out runs/cls_lite0
    edge-sdk-export export-onnx runs/seg_unet_lite0/best.pt out/seg_fp32.onnx
    edge-sdk-export quantize out/seg_fp32.onnx out/seg_int8_cpu.onnx --target int8-cpu
    edge-sdk-export bundle --segmenter runs/seg_unet_lite0/best.pt \\
        --classifier runs/cls_lite0/best.pt --target int8-cpu --out bundles/int8-cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_sdk.errors import EdgeSDKError
from export.errors import ExportError, GateError


def _train(args: argparse.Namespace) -> int:
    from export.train import TrainConfig, train_classifier, train_segmenter

    config = TrainConfig(
        role=args.role, arch=args.arch, out=str(args.out), data=_data_spec(args.data),
        size=args.size, balance=not args.no_balance,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
        seed=args.seed, pretrained=not args.scratch, threads=args.threads, limit=args.limit,
        segmenter=str(args.segmenter or ""), augment=not args.no_augment,
        init_from=str(args.init_from or ""), ema_decay=args.ema_decay,
    )
    from export.models import get_entry

    get_entry(args.role, args.arch)  # a clear error before any data is read
    run = train_segmenter if args.role == "segmenter" else train_classifier
    result = run(config, resume=args.resume, stop_after=args.stop_after)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return 0


def _data_spec(folders: list[Path] | None) -> str:
    """``--data A --data B`` as the one string a run's config stores (default: BUSI)."""
    from export.data import default_data_dir, join_roots

    return join_roots(folders or [default_data_dir()])


def _add_train(sub: argparse._SubParsersAction) -> None:
    from export.data import default_data_dir

    p = sub.add_parser("train", help="train a segmenter or classifier on the train split")
    p.add_argument("role", choices=("segmenter", "classifier"))
    p.add_argument("arch", help="registry name (see export.models)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, history)")
    p.add_argument("--data", type=Path, action="append",
                   help=f"dataset folder in the shared layout (images/, masks/, labels.csv, "
                        f"splits.csv); repeat to train on several at once, each with its own "
                        f"split (default: {default_data_dir()})")
    p.add_argument("--no-balance", action="store_true",
                   help="with several --data: draw frames in proportion to each dataset's size "
                        "instead of every dataset equally per epoch")
    p.add_argument("--size", type=int, default=0, help="input side (default: registry's)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=8, help="early stop after N flat epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="use only N frames per split (smoke)")
    p.add_argument("--scratch", action="store_true", help="ignore local ImageNet weights")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--segmenter", type=Path, help="classifier: segmenter best.pt for "
                   "predicted-region crops")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--stop-after", type=int, help="stop after this epoch (schedule unchanged)")
    p.add_argument("--init-from", type=Path, help="start from this checkpoint's weights (same "
                   "net) with a fresh optimizer and schedule")
    p.add_argument("--ema-decay", type=float, default=0.0,
                   help="validate and keep an exponential moving average of the weights with "
                        "this decay (e.g. 0.99; default 0: off)")
    p.set_defaults(func=_train)


def _export_onnx(args: argparse.Namespace) -> int:
    from export.onnx_export import check_parity, real_inputs, to_onnx
    from export.train import model_from_checkpoint

    path = to_onnx(args.checkpoint, args.out, opset=args.opset)
    model, config = model_from_checkpoint(args.checkpoint)
    if args.data:
        config.data = str(args.data)
    report = check_parity(model, config.role, path, real_inputs(config, args.frames), args.atol)
    print(json.dumps({"onnx": str(path), "parity": report.to_dict()}))
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from export.calibration import classifier_calibration, segmenter_calibration
    from export.data import load_frames
    from export.quantize import quantize_int8, to_fp16, to_fp32
    from export.train import model_from_checkpoint

    if args.target == "fp16":
        path = to_fp16(args.model, args.out)
    elif args.target == "fp32":
        path = to_fp32(args.model, args.out)
    else:
        if args.checkpoint is None:
            raise ExportError("quantize: INT8 needs --checkpoint (the net's best.pt) to know its "
                              "role and input spec for calibration")
        _, config = model_from_checkpoint(args.checkpoint)
        frames = load_frames(args.data, "train")
        spec = config.input_spec()
        calibration = (segmenter_calibration(frames, spec, args.calibration_frames)
                       if config.role == "segmenter"
                       else classifier_calibration(frames, spec, n=args.calibration_frames))
        path = quantize_int8(args.model, args.out, args.target, calibration, args.format)
    print(json.dumps({"model": str(path), "target": args.target}))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from export.build import BuildOptions, build_bundle

    extra: dict[str, Any] = {}
    if args.params_from:
        from edge_sdk.bundle import load_bundle

        # the same nets' post-processing, already chosen on val: no need to search again
        extra["params"] = load_bundle(args.params_from).manifest.pipeline
    options = BuildOptions(
        target=args.target, out=args.out, work=args.work or args.out.parent / f"{args.out.name}.work",
        data=Path(_data_spec(args.data)), max_drop=args.max_drop,
        max_output_shift=args.max_output_shift, calibration_frames=args.calibration_frames,
        tta=not args.no_tta,
        segmenter_variant=args.segmenter_precision, classifier_variant=args.classifier_precision,
        threads=args.threads, name=args.name,
        tune=not (args.no_tune or args.params_from), **extra,
    )
    bundle = build_bundle(args.segmenter, args.classifier, options)
    gate = bundle.manifest.provenance["gate"]
    print(json.dumps({"bundle": str(bundle.root), "digest": bundle.digest,
                      "precisions": {r: s.precision for r, s in bundle.manifest.models.items()},
                      "gate": dict(gate["metrics"])}, indent=1))
    return 0


def _family(args: argparse.Namespace) -> int:
    from export.build import BuildOptions
    from export.family import build_family_from_checkpoints, family_size_mb

    options = BuildOptions(
        target=args.target, out=args.out,
        work=args.work or args.out.parent / f"{args.out.name}.work",
        data=Path(_data_spec(args.data)), threads=args.threads, name=args.name,
        calibration_frames=args.calibration_frames, tta=not args.no_tta)
    family = build_family_from_checkpoints(args.segmenter, args.classifier, options,
                                           tuple(args.also))
    print(json.dumps({"bundle": str(family.root), "digest": family.digest,
                      "size_mb": round(family_size_mb(family), 1),
                      "targets": family.manifest.provenance["family"]}, indent=1))
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from export.family import family_size_mb
    from export.finetune import FinetuneOptions, finetune

    options = FinetuneOptions(
        parent=args.parent, data=_data_spec(args.data), out=args.out,
        work=args.work or args.out.parent / f"{args.out.name}.work", epochs=args.epochs,
        segmenter_lr=args.segmenter_lr, classifier_lr=args.classifier_lr,
        ema_decay=args.ema_decay, threads=args.threads, retune=args.retune,
        max_drop=args.max_drop, targets=None if args.also is None else tuple(args.also))
    bundle = finetune(options)
    print(json.dumps({"bundle": str(bundle.root), "digest": bundle.digest,
                      "parent": bundle.manifest.provenance["parent"],
                      "size_mb": round(family_size_mb(bundle), 1)}, indent=1))
    return 0


def _member(args: argparse.Namespace) -> int:
    from export.family import family_member

    bundle = family_member(args.family, args.target, args.out)
    print(json.dumps({"bundle": str(bundle.root), "digest": bundle.digest,
                      "target": args.target}))
    return 0


def _share_weights(args: argparse.Namespace) -> int:
    from export.family import family_size_mb, share_family_weights

    bundle = share_family_weights(args.family, args.out)
    print(json.dumps({"bundle": str(bundle.root), "digest": bundle.digest,
                      "size_mb": round(family_size_mb(bundle), 1)}))
    return 0


def _subset(args: argparse.Namespace) -> int:
    from export.subset import patient_subset

    out = patient_subset(args.data, args.out, args.groups, args.split, args.val_fraction,
                         args.seed)
    print((out / "subset.json").read_text(), end="")
    return 0


def _gate(args: argparse.Namespace) -> int:
    from export.gate import compare, evaluate_bundle

    data = _data_spec(args.data)
    reference = evaluate_bundle(args.reference, data, args.split, args.threads)
    converted = evaluate_bundle(args.bundle, data, args.split, args.threads)
    print(json.dumps(compare(reference, converted, args.max_drop), indent=1))
    return 0


def _make_default(args: argparse.Namespace) -> int:
    import shutil

    from edge_sdk.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    gate = bundle.manifest.provenance.get("gate", {})
    if not gate.get("passed"):
        raise ExportError(f"make-default: {bundle.root} has no passed accuracy gate in its "
                          "manifest; build it with 'edge-sdk-export bundle' first")
    dest = args.dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for spec in bundle.manifest.models.values():  # the main files and every artifact
        shutil.copyfile(bundle.model_path(spec.role), dest / spec.file)
        for artifact in spec.artifacts:
            shutil.copyfile(bundle.artifact_path(spec.role, artifact), dest / artifact.file)
    shutil.copyfile(bundle.root / "manifest.json", dest / "manifest.json")
    copied = load_bundle(dest)
    size = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    print(json.dumps({"default": str(copied.root), "digest": copied.digest, "size_mb": size}))
    return 0


def _report(args: argparse.Namespace) -> int:
    from export.report import describe_bundles, load_reports, markdown_table

    if args.reports:
        print(markdown_table(load_reports(args.reports)))
    if args.bundles:
        print(describe_bundles(args.bundles))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sdk-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    from export.calibration import DEFAULT_CALIBRATION_SAMPLES
    from export.data import default_data_dir
    from export.fidelity import DEFAULT_MAX_SHIFT
    from export.gate import DEFAULT_MAX_DROP
    from export.quantize import TARGETS

    data = default_data_dir()
    p = sub.add_parser("export-onnx", help="checkpoint -> fp32 ONNX, parity-checked")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--atol", type=float, default=1e-3, help="parity tolerance (max |diff|)")
    p.add_argument("--frames", type=int, default=8, help="real val inputs to compare on")
    p.add_argument("--data", type=Path, default=data)
    p.set_defaults(func=_export_onnx)

    p = sub.add_parser("quantize", help="fp32 ONNX -> one target precision")
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument("--format", choices=("QDQ", "QOperator"), default="QDQ")
    p.add_argument("--checkpoint", type=Path, help="the net's best.pt (INT8 calibration)")
    p.add_argument("--calibration-frames", type=int, default=DEFAULT_CALIBRATION_SAMPLES,
                   help="INT8 calibration samples drawn from the train split, at most (default "
                        f"{DEFAULT_CALIBRATION_SAMPLES}: all of BUSI's train frames and crops)")
    p.add_argument("--data", type=Path, default=data)
    p.set_defaults(func=_quantize)

    p = sub.add_parser("bundle", help="two checkpoints -> gated bundle for one target")
    p.add_argument("--segmenter", type=Path, nargs="+", required=True,
                   help="segmenter best.pt; several: one net averaging their logits")
    p.add_argument("--classifier", type=Path, nargs="+", required=True,
                   help="classifier best.pt; several: one net averaging their logits")
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, help="scratch folder (default: OUT.work)")
    p.add_argument("--data", type=Path, action="append",
                   help=f"dataset folder; repeat for several (tuning and the gate then hold for "
                        f"each and their mean; default: {data})")
    p.add_argument("--max-drop", type=float, default=DEFAULT_MAX_DROP,
                   help="largest allowed val Dice/AUC drop vs fp32 (default 0.01)")
    p.add_argument("--max-output-shift", type=float, default=DEFAULT_MAX_SHIFT,
                   help="auto precision: largest p95 per-sample |probability shift| vs fp32 on "
                        "val inputs for a conversion to be chosen (default 0.05)")
    p.add_argument("--calibration-frames", type=int, default=DEFAULT_CALIBRATION_SAMPLES,
                   help="INT8 calibration samples drawn from the train split, at most (default "
                        f"{DEFAULT_CALIBRATION_SAMPLES}: all of BUSI's train frames and crops)")
    p.add_argument("--segmenter-precision", default="auto",
                   help="auto (fastest measured) or fp32|fp16|int8-qdq|int8-qop|int8-trt")
    p.add_argument("--classifier-precision", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default="busi-two-stage")
    p.add_argument("--no-tune", action="store_true",
                   help="keep the default post-processing instead of choosing it on val")
    p.add_argument("--params-from", type=Path,
                   help="take the post-processing of this bundle (same nets) instead of tuning")
    p.add_argument("--no-tta", action="store_true",
                   help="tuning: do not try the mirror passes (halves the search)")
    p.set_defaults(func=_bundle)

    p = sub.add_parser("family", help="two checkpoints -> one bundle for every target (the "
                       "main target's files, the others' as artifacts, fp32 safetensors)")
    p.add_argument("--segmenter", type=Path, required=True, help="segmenter best.pt")
    p.add_argument("--classifier", type=Path, required=True, help="classifier best.pt")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, help="scratch folder (default: OUT.work)")
    p.add_argument("--data", type=Path, action="append",
                   help=f"dataset folder; repeat for several (default: {data})")
    p.add_argument("--target", choices=TARGETS, default="int8-cpu",
                   help="the target the main files serve (tuned and gated on val)")
    p.add_argument("--also", nargs="*", choices=TARGETS, default=["int8-trt"],
                   help="further targets carried as artifacts (fp32 always is)")
    p.add_argument("--calibration-frames", type=int, default=DEFAULT_CALIBRATION_SAMPLES)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default="busi-two-stage")
    p.add_argument("--no-tta", action="store_true",
                   help="tuning: do not try the mirror passes (halves the search)")
    p.set_defaults(func=_family)

    p = sub.add_parser("finetune", help="adapt a family bundle to your scanner: fine-tune both "
                       "nets on a small labelled set, convert, gate, write a new family")
    p.add_argument("--from", dest="parent", type=Path, required=True,
                   help="a family bundle (ships <role>.fp32.safetensors), e.g. the default")
    p.add_argument("--data", type=Path, action="append", required=True,
                   help="your dataset folder (images/, masks/, labels.csv, splits.csv with "
                        "train and val); repeat to mix in the original data")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, help="scratch folder (default: OUT.work)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--segmenter-lr", type=float, default=1e-4)
    p.add_argument("--classifier-lr", type=float, default=1e-4)
    p.add_argument("--ema-decay", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-drop", type=float, default=DEFAULT_MAX_DROP)
    p.add_argument("--retune", action="store_true",
                   help="choose the pipeline parameters on your val split instead of keeping "
                        "the parent's")
    p.add_argument("--also", nargs="*", choices=TARGETS,
                   help="targets to build beside the parent's main one and fp32 (default: the "
                        "parent family's; give none for none)")
    p.set_defaults(func=_finetune)

    p = sub.add_parser("member", help="one member of a family as a single-target bundle")
    p.add_argument("family", type=Path)
    p.add_argument("--target", choices=TARGETS, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_member)

    p = sub.add_parser("share-weights", help="rewrite a family's fp32 ONNX artifacts to read "
                       "their weights from its safetensors (stored once)")
    p.add_argument("family", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_share_weights)

    p = sub.add_parser("subset", help="a few patients of a dataset as a small dataset of their "
                       "own (train/val by patient; images linked, not copied)")
    p.add_argument("--data", type=Path, required=True, help="source dataset (splits.csv with a "
                   "group column)")
    p.add_argument("--groups", type=int, required=True, help="how many patients")
    p.add_argument("--split", default="train", help="the source split they come from")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_subset)

    p = sub.add_parser("gate", help="compare a bundle against an fp32 reference on val")
    p.add_argument("bundle", type=Path)
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--data", type=Path, action="append",
                   help=f"dataset folder; repeat for several (default: {data})")
    p.add_argument("--split", default="val")
    p.add_argument("--max-drop", type=float, default=DEFAULT_MAX_DROP)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_gate)

    p = sub.add_parser("make-default", help="copy a gated bundle into the shipped default")
    p.add_argument("bundle", type=Path)
    p.add_argument("--dest", type=Path,
                   default=Path(__file__).resolve().parents[1] / "edge_sdk" / "bundles" / "default")
    p.set_defaults(func=_make_default)

    p = sub.add_parser("report", help="markdown table from edge-sdk eval --json reports")
    p.add_argument("reports", nargs="*", help="LABEL=eval.json")
    p.add_argument("--bundles", nargs="*", type=Path, help="also describe these bundles")
    p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one toolchain command; returns the exit status (non-zero on any failure)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except EdgeSDKError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, GateError) else 1


if __name__ == "__main__":
    raise SystemExit(main())
