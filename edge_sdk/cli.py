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
    parser.add_argument("--backend", default="onnxruntime",
                        help="onnxruntime | tensorrt | torch | auto (default: onnxruntime; auto "
                             "picks TensorRT, then ONNX Runtime's GPU providers, then the CPU)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, repeatable (e.g. device=cuda, half=true, "
                             "cuda_graph=true, precision=int8)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="inference threads (default: the cores this process may use)")
    parser.add_argument("--providers", default=None,
                        help="comma-separated ONNX Runtime execution providers, in order "
                             "(default: best available of TensorRT, CUDA, CPU)")


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["half=true", "device=cuda", "threads=2"]`` → typed options."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE, e.g. device=cuda")
        lowered = text.lower()
        value: Any = text
        if lowered in ("true", "false"):
            value = lowered == "true"
        else:
            try:
                value = int(text)
            except ValueError:
                pass
        options[key.strip()] = value
    return options


def _open_pipeline(args: argparse.Namespace) -> Any:
    from edge_sdk.bundle import default_bundle_path
    from edge_sdk.pipeline import Pipeline

    options: dict[str, Any] = {}
    if args.threads:
        options["threads"] = args.threads
    if args.providers:
        options["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    options.update(_parse_options(args.option))
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
    auto = info["auto_backend"]
    providers_text = ", ".join(auto["options"].get("providers", []))
    print(f"backend=auto picks: {auto['kind']}" + (f" ({providers_text})" if providers_text else "")
          + f" because {auto['reason']}")
    return 0


class _Progress:
    """The live progress line: redrawn in place on a terminal, one line a second in a log."""

    def __init__(self, stream: Any, every_s: float = 1.0) -> None:
        self.stream, self.every_s = stream, every_s
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0
        self.shown = False

    def update(self, stats: Any, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if not force and now - self.last < (0.25 if self.tty else self.every_s):
            return
        self.last = now
        line = stats.progress_line()
        self.stream.write(("\r\033[K" + line) if self.tty else line + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")


def _cmd_run(args: argparse.Namespace) -> int:
    import cv2

    from edge_sdk.media import VIDEO_SUFFIXES
    from edge_sdk.overlay import draw_overlay
    from edge_sdk.sources import IgtlSource, source_from_uri
    from edge_sdk.streaming import StreamRunner
    from edge_sdk.timing import format_table, summarize

    if args.save is not None and args.save.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"--save {args.save}: expected a video file name ending in one of "
                          f"{', '.join(VIDEO_SUFFIXES)}")
    source = source_from_uri(args.source)
    if source.kind == "push":
        raise ConfigError("--source push: a push source is fed by your own code through the "
                          "Python API (PushSource.push); the command line has nothing to push. "
                          "Use a device, file or synthetic:// URI")
    source.open()  # a missing file or device fails here, before the models load
    output = writer = jsonl = None
    latencies, n_lesions = [], 0
    progress = _Progress(sys.stderr)
    runner = None
    try:
        with _open_pipeline(args) as pipeline:
            smoother = None
            if args.smooth:
                from edge_sdk.tracking import TemporalSmoother

                smoother = TemporalSmoother(pipeline.params, min_frames=args.smooth)
            region = source.default_region if args.region == "default" else args.region
            runner = StreamRunner(pipeline, source, policy=args.policy, region=region,
                                  smoother=smoother, max_frames=args.max_frames,
                                  stall_timeout=args.stall_timeout)
            if args.igtl_out:
                from edge_sdk.igtl_output import IgtlOutput
                from edge_sdk.sources.igtl import parse_host_port

                same = isinstance(source, IgtlSource) and parse_host_port(
                    args.igtl_out, "--igtl-out") == (source.connection.host, source.connection.port)
                output = (IgtlOutput(connection=source.connection) if same
                          else IgtlOutput(args.igtl_out)).open()
            jsonl = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else None
            fps = source.nominal_fps or getattr(source, "file_fps", None) or 10.0
            with runner:
                for item in runner:
                    result = item.result
                    latencies.append(result.latency_ms)
                    n_lesions += len(result.lesions)
                    if jsonl:
                        name = item.info.get("name") or f"{source.kind}#{item.frame_index}"
                        jsonl.write(json.dumps({"source": name, **result.to_dict()}) + "\n")
                    if output is not None:
                        output.send(result)
                    if args.save is not None:  # only the imaging area is ever recorded
                        canvas = draw_overlay(item.image, result, pipeline.params.positive_class)
                        if writer is None:
                            size = (canvas.shape[1], canvas.shape[0])
                            args.save.parent.mkdir(parents=True, exist_ok=True)
                            writer = cv2.VideoWriter(str(args.save), cv2.VideoWriter_fourcc(*"mp4v"),
                                                     fps, size)
                            if not writer.isOpened():
                                raise ConfigError(f"cannot write the video {args.save}")
                        if (canvas.shape[1], canvas.shape[0]) != size:
                            canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
                        writer.write(canvas)
                    progress.update(runner.stats)
    finally:
        source.close()
        if writer is not None:
            writer.release()
        if jsonl:
            jsonl.close()
        if output is not None:
            output.close()
        if runner is not None:
            stats = runner.stats
            progress.update(stats, force=True)
            progress.finish()
            for error in stats.errors:
                print(f"edge-sdk run: {error}", file=sys.stderr)
            print(f"processed {stats.processed} frame(s), failed {stats.failures}, lesions found "
                  f"{n_lesions}", file=sys.stderr)
            summary = stats.summary()
            if output is not None:
                summary.update(igtl_sent=output.sent, igtl_failed=output.failed)
            print("summary: " + json.dumps(summary), file=sys.stderr)
            if latencies:
                print(format_table(summarize(latencies)), file=sys.stderr)
    return 1 if runner is not None and runner.stats.failures else 0


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


def _cmd_build_engine(args: argparse.Namespace) -> int:
    from edge_sdk.engine_build import build_bundle_engines

    bundle = build_bundle_engines(
        args.bundle, precision=args.precision, max_lesions=args.max_lesions,
        workspace_mb=args.workspace, dla_core=args.dla, timing_cache=args.timing_cache)
    for role, spec in bundle.manifest.models.items():
        for artifact in spec.artifacts_of("tensorrt"):
            print(f"{role}: {artifact.file}  ({artifact.meta.get('precision')}, TensorRT "
                  f"{artifact.meta.get('tensorrt_version')}, {artifact.meta.get('gpu')})")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from edge_sdk.bench import BenchOptions, Variant, command_line, parse_compare, run_benchmark, \
        write_outputs
    from edge_sdk.bench.report import terminal_table
    from edge_sdk.bundle import default_bundle_path

    bundle = args.bundle
    if bundle is None and args.bundles is None:
        bundle = default_bundle_path()
    if args.compare:
        variants = parse_compare(args.compare, args.bundles, bundle, args.threads)
    else:
        options: dict[str, Any] = {"threads": args.threads} if args.threads else {}
        options.update(_parse_options(args.option))
        variants = [Variant(args.backend, args.backend, "bundle", options, bundle)]
    if args.data is not None and not (args.data / "labels.csv").is_file():
        raise ConfigError(f"--data {args.data}: no labels.csv there; expected the dataset layout")
    report, runs = run_benchmark(BenchOptions(
        variants=variants, source=args.source, frames=args.frames, warmup=args.warmup,
        threads=args.threads, streaming_frames=0 if args.no_streaming else None,
        data=args.data, split=args.split, floor=not args.no_floor,
        command=command_line(sys.argv[1:] if args.command_line is None else args.command_line)))
    print(terminal_table(report))
    for path in write_outputs(report, runs, args.json, args.markdown, args.plots):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-sdk", description="Run a breast-ultrasound model bundle: "
                     "segment the lesion, crop it, classify it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="versions, execution providers, CPU/GPU/Jetson")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)

    run = sub.add_parser("run", help="run the pipeline over a live source, video, DICOM cine or images")
    run.add_argument("--source", required=True,
                     help="a path (image, folder, video, .dcm) or a URI: synthetic://?fps=30, "
                          "file:scan.mp4?pace=1, images:DIR, v4l2:///dev/video0?fourcc=MJPG&"
                          "size=1920x1080&fps=30, 'gst:... ! appsink', dicom:cine.dcm, "
                          "igtl://127.0.0.1:18944?device=Image")
    _add_backend_args(run)
    run.add_argument("--save", type=Path, default=None, help="write an overlay video (e.g. out.mp4)")
    run.add_argument("--jsonl", type=Path, default=None, help="write one JSON line per frame")
    run.add_argument("--max-frames", type=_positive_int, default=None, help="stop after N frames")
    run.add_argument("--policy", default=None,
                     help="hand-off policy latest | queue(N) | block (default: latest for live "
                          "sources, block for files, folders and DICOM)")
    run.add_argument("--region", default="default",
                     help="imaging area to crop to: auto | source | none | x0,y0,x1,y1 (default: "
                          "auto for live sources and the simulator, source for DICOM, none for "
                          "files and folders)")
    run.add_argument("--smooth", type=_positive_int, default=None, metavar="K",
                     help="temporal smoothing: report a lesion after K consecutive frames")
    run.add_argument("--stall-timeout", type=float, default=2.0,
                     help="seconds without a frame before the source is reported stalled")
    run.add_argument("--igtl-out", default=None, metavar="HOST:PORT",
                     help="send results over OpenIGTLink (label map IMAGE + scores STRING)")
    run.set_defaults(func=_cmd_run)

    bench = sub.add_parser("bench", help="latency percentiles per stage; --compare variants")
    bench.add_argument("--bundle", type=Path, default=None,
                       help="bundle directory (default: the bundle shipped with the package)")
    bench.add_argument("--bundles", type=Path, default=None,
                       help="folder of target bundles (fp32/, int8-cpu/, int8-trt/, fp16/) for --compare")
    bench.add_argument("--compare", default=None, metavar="V1,V2,...",
                       help="variants run interleaved on the same frames, first is the baseline, "
                            "e.g. torch-fp32,onnxruntime-fp32,onnxruntime-int8-cpu,openvino; "
                            "NAME=DIR picks a bundle")
    bench.add_argument("--backend", default="onnxruntime", help="backend without --compare")
    bench.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="backend option without --compare, repeatable")
    bench.add_argument("--source", default="synthetic://?fps=0&size=800x600&seed=0",
                       help="frames: a source URI or path (default: the probe simulator, 800x600)")
    bench.add_argument("--frames", type=_positive_int, default=200, help="timed frames (default 200)")
    bench.add_argument("--warmup", type=int, default=20, help="warm-up frames, not timed (default 20)")
    bench.add_argument("--threads", type=_positive_int, default=None, help="inference threads")
    bench.add_argument("--no-streaming", action="store_true", help="skip the streaming throughput run")
    bench.add_argument("--no-floor", action="store_true", help="skip the INT8 compute floor")
    bench.add_argument("--data", type=Path, default=None,
                       help="dataset folder: also measure Dice/AUC of each variant")
    bench.add_argument("--split", default="test", help="dataset split with --data (default: test)")
    bench.add_argument("--json", type=Path, default=None, help="write the JSON report")
    bench.add_argument("--markdown", type=Path, default=None, help="write a Markdown report")
    bench.add_argument("--plots", type=Path, default=None, help="folder for the PNG plots")
    bench.set_defaults(func=_cmd_bench, command_line=None)

    engine = sub.add_parser("build-engine", help="build TensorRT engines for a bundle on this GPU")
    engine.add_argument("--bundle", type=Path, required=True, help="bundle directory (written to)")
    engine.add_argument("--precision", choices=("fp32", "fp16", "int8"), default=None,
                        help="engine precision (default: the bundle's; int8 needs an int8-trt bundle)")
    engine.add_argument("--workspace", type=_positive_int, default=None, metavar="MB",
                        help="workspace memory limit in MB")
    engine.add_argument("--dla", type=int, default=None, metavar="N",
                        help="build for DLA core N with GPU fallback (Jetson AGX/NX)")
    engine.add_argument("--timing-cache", type=Path, default=None, metavar="FILE",
                        help="timing cache file, reused and updated (faster rebuilds)")
    engine.add_argument("--max-lesions", type=_positive_int, default=None, metavar="N",
                        help="largest classifier batch (default: the bundle's max_lesions)")
    engine.set_defaults(func=_cmd_build_engine)

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
