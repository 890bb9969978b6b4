"""Shared pieces of the command line: the parser class, argument helpers, pipeline opening."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from edge_sdk.errors import ConfigError


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle directory (default: the bundle shipped with the package)")
    parser.add_argument("--backend", default="onnxruntime",
                        help="onnxruntime | tensorrt | torch | openvino | auto (default: onnxruntime; auto "
                             "picks TensorRT, then ONNX Runtime's GPU providers, then the CPU)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, repeatable (e.g. device=cuda, half=true, "
                             "cuda_graph=true, precision=int8)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="inference threads of every stage (default: the thread budget "
                             "shown by edge-sdk info: every usable core for the segmenter, half "
                             "for the classifier, pools not spinning)")
    parser.add_argument("--providers", default=None,
                        help="comma-separated ONNX Runtime execution providers, in order "
                             "(default: best available of TensorRT, CUDA, CPU)")
    parser.add_argument("--no-tta", action="store_true",
                        help="skip the mirror passes (segmenter_hflip/classifier_hflip) that the "
                             "bundle enables: faster, slightly less accurate")


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
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


def open_pipeline(args: argparse.Namespace) -> Any:
    from edge_sdk.bundle import default_bundle_path, load_bundle
    from edge_sdk.pipeline import Pipeline

    options: dict[str, Any] = {}
    if args.threads:
        options["threads"] = args.threads
    if args.providers:
        options["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    options.update(parse_options(args.option))
    bundle = load_bundle(args.bundle if args.bundle is not None else default_bundle_path())
    params = bundle.manifest.pipeline
    if args.no_tta:
        params = dataclasses.replace(params, segmenter_hflip=False, classifier_hflip=False)
    return Pipeline(bundle, backend=args.backend, backend_options=options, params=params)
