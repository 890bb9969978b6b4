"""``edge-sdk bench``: latency percentiles per stage, variants side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.common import (
    parse_options,
    positive_int,
)
from edge_sdk.errors import ConfigError


def _cmd_bench(args: argparse.Namespace) -> int:
    from edge_sdk.bench import (
        BenchOptions,
        Variant,
        command_line,
        parse_compare,
        run_benchmark,
        write_outputs,
    )
    from edge_sdk.bench.report import terminal_table
    from edge_sdk.bundle import default_bundle_path

    bundle = args.bundle
    if bundle is None and args.bundles is None:
        bundle = default_bundle_path()
    if args.compare:
        variants = parse_compare(args.compare, args.bundles, bundle, args.threads)
    else:
        options: dict[str, Any] = {"threads": args.threads} if args.threads else {}
        options.update(parse_options(args.option))
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


def add_parser(sub: Any) -> None:
    bench = sub.add_parser("bench", help="latency percentiles per stage; --compare variants")
    bench.add_argument("--bundle", type=Path, default=None,
                       help="bundle directory (default: the bundle shipped with the package)")
    bench.add_argument("--bundles", type=Path, default=None,
                       help="folder of target bundles (fp32/, int8-cpu/, int8-trt/, fp16/) for --compare")
    bench.add_argument("--compare", default=None, metavar="V1,V2,...",
                       help="variants run interleaved on the same frames, first is the baseline, "
                            "e.g. torch-fp32,onnxruntime-fp32,onnxruntime-int8-cpu,openvino; "
                            "NAME=DIR picks a bundle; NAME@LABEL=DIR runs a variant on a "
                            "second bundle")
    bench.add_argument("--backend", default="onnxruntime", help="backend without --compare")
    bench.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="backend option without --compare, repeatable")
    bench.add_argument("--source", default="synthetic://?fps=0&size=800x600&seed=0",
                       help="frames: a source URI or path (default: the probe simulator, 800x600)")
    bench.add_argument("--frames", type=positive_int, default=200, help="timed frames (default 200)")
    bench.add_argument("--warmup", type=int, default=20, help="warm-up frames, not timed (default 20)")
    bench.add_argument("--threads", type=positive_int, default=None, help="inference threads")
    bench.add_argument("--no-streaming", action="store_true", help="skip the streaming throughput run")
    bench.add_argument("--no-floor", action="store_true", help="skip the INT8 compute floor")
    bench.add_argument("--data", type=Path, default=None,
                       help="dataset folder: also measure Dice/AUC of each variant")
    bench.add_argument("--split", default="test", help="dataset split with --data (default: test)")
    bench.add_argument("--json", type=Path, default=None, help="write the JSON report")
    bench.add_argument("--markdown", type=Path, default=None, help="write a Markdown report")
    bench.add_argument("--plots", type=Path, default=None, help="folder for the PNG plots")
    bench.set_defaults(func=_cmd_bench, command_line=None)
