"""The ``edge-sdk`` command: ``info``, ``run`` and ``eval``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from edge_sdk.errors import ConfigError, EdgeSDKError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle directory (default: the bundle shipped with the package)")
    parser.add_argument("--backend", default="onnxruntime", help="backend kind (default: onnxruntime)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="inference threads (default: the cores this process may use)")
    parser.add_argument("--providers", default=None,
                        help="comma-separated ONNX Runtime execution providers, in order "
                             "(default: best available of TensorRT, CUDA, CPU)")


def _open_pipeline(args: argparse.Namespace) -> Any:
    from edge_sdk.bundle import default_bundle_path
    from edge_sdk.pipeline import Pipeline

    options: dict[str, Any] = {}
    if args.threads:
        options["threads"] = args.threads
    if args.providers:
        options["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    bundle = args.bundle if args.bundle is not None else default_bundle_path()
    return Pipeline(bundle, backend=args.backend, backend_options=options)


def _cmd_info(args: argparse.Namespace) -> int:
    from edge_sdk.sysinfo import system_info

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"edge-sdk {info['edge_sdk']}  (Python {info['python']}, {info['platform']})")
    print("packages:  " + ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v))
    print(f"backends:  {', '.join(info['backends'])}")
    providers = info["execution_providers"]
    print(f"onnxruntime providers: {', '.join(providers) if isinstance(providers, list) else providers}")
    cpu = info["cpu"]
    print(f"cpu:       {cpu['model']} ({cpu['usable_cores']} of {cpu['cores']} cores usable)")
    gpus = info["gpus"]
    print("gpu:       " + ("; ".join(f"{g['name']} (driver {g['driver']}, cc {g['compute_capability']})"
                                     for g in gpus) if gpus else "none found (nvidia-smi)"))
    jetson = info["jetson"]
    print(f"jetson:    {jetson['model']}, L4T {jetson['l4t']}" if jetson else "jetson:    no")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import cv2

    from edge_sdk.media import VIDEO_SUFFIXES, iter_media, video_fps
    from edge_sdk.overlay import draw_overlay
    from edge_sdk.timing import format_table, summarize

    if args.save is not None and args.save.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"--save {args.save}: expected a video file name ending in one of "
                          f"{', '.join(VIDEO_SUFFIXES)}")
    frames = iter_media(args.source)
    writer = None
    jsonl = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else None
    latencies, failures, n_lesions, processed = [], [], 0, 0
    try:
        with _open_pipeline(args) as pipeline:
            for index, item in enumerate(frames):
                if args.max_frames is not None and index >= args.max_frames:
                    break
                try:
                    if item.pixels is None:
                        raise ConfigError(item.error or f"cannot read {item.name}")
                    result = pipeline.process(item.pixels, frame_index=index)
                except EdgeSDKError as exc:
                    failures.append(f"{item.name}: {exc}")
                    print(f"edge-sdk run: frame {index} ({item.name}) failed: {exc}", file=sys.stderr)
                    continue
                processed += 1
                latencies.append(result.latency_ms)
                n_lesions += len(result.lesions)
                if jsonl:
                    jsonl.write(json.dumps({"source": item.name, **result.to_dict()}) + "\n")
                if args.save is not None:
                    canvas = draw_overlay(item.pixels, result, pipeline.params.positive_class)
                    if writer is None:
                        size = (canvas.shape[1], canvas.shape[0])
                        args.save.parent.mkdir(parents=True, exist_ok=True)
                        writer = cv2.VideoWriter(str(args.save), cv2.VideoWriter_fourcc(*"mp4v"),
                                                 video_fps(Path(args.source)), size)
                        if not writer.isOpened():
                            raise ConfigError(f"cannot write the video {args.save}")
                    if (canvas.shape[1], canvas.shape[0]) != size:
                        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
                    writer.write(canvas)
    finally:
        if writer is not None:
            writer.release()
        if jsonl:
            jsonl.close()
    print(f"processed {processed} frame(s), failed {len(failures)}, lesions found {n_lesions}",
          file=sys.stderr)
    if latencies:
        print(format_table(summarize(latencies)), file=sys.stderr)
    return 1 if failures else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from edge_sdk.dataset import load_samples
    from edge_sdk.evaluate import evaluate

    samples = load_samples(args.data, args.split)
    if not samples:
        raise ConfigError(f"no samples in {args.data} for split {args.split!r}")
    with _open_pipeline(args) as pipeline:
        report = evaluate(pipeline, samples, progress=not args.no_progress)
    report.update(data=str(args.data), split=args.split)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-sdk", description="Run a breast-ultrasound model bundle: "
                     "segment the lesion, crop it, classify it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="versions, execution providers, CPU/GPU/Jetson")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)

    run = sub.add_parser("run", help="run the pipeline over an image, image folder or video")
    run.add_argument("--source", required=True, help="image file, folder of images or video file")
    _add_backend_args(run)
    run.add_argument("--save", type=Path, default=None, help="write an overlay video (e.g. out.mp4)")
    run.add_argument("--jsonl", type=Path, default=None, help="write one JSON line per frame")
    run.add_argument("--max-frames", type=_positive_int, default=None, help="stop after N frames")
    run.set_defaults(func=_cmd_run)

    ev = sub.add_parser("eval", help="Dice/IoU/AUC/... of a bundle on a dataset split")
    ev.add_argument("--data", type=Path, required=True,
                    help="dataset folder (images/, masks/, labels.csv, splits.csv)")
    ev.add_argument("--split", default="test", help="split of splits.csv (default: test)")
    _add_backend_args(ev)
    ev.add_argument("--json", type=Path, default=None, help="also write the report here")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edge-sdk`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except EdgeSDKError as exc:
        print(f"edge-sdk {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"edge-sdk {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
