"""``edge-sdk build-engine``: TensorRT engines for a bundle, built on this GPU."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_sdk.cli.common import (
    positive_int,
)


def _cmd_build_engine(args: argparse.Namespace) -> int:
    from edge_sdk.tensorrt.cache import build_bundle_engines

    bundle = build_bundle_engines(
        args.bundle, precision=args.precision, max_lesions=args.max_lesions,
        device=args.device, workspace_mb=args.workspace, dla_core=args.dla,
        timing_cache=args.timing_cache)
    for role, spec in bundle.manifest.models.items():
        for artifact in spec.artifacts_of("tensorrt"):
            meta = artifact.meta
            dla = f", DLA core {meta['dla_core']}" if meta.get("dla_core") is not None else ""
            print(f"{role}: {artifact.file}  ({meta.get('precision')}, TensorRT "
                  f"{meta.get('tensorrt_version')}, {meta.get('gpu')}, batch <= "
                  f"{meta.get('max_batch', '?')}{dla})")
    return 0


def add_parser(sub: Any) -> None:
    engine = sub.add_parser("build-engine", help="build TensorRT engines for a bundle on this GPU")
    engine.add_argument("--bundle", type=Path, required=True, help="bundle directory (written to)")
    engine.add_argument("--precision", choices=("fp32", "fp16", "int8"), default=None,
                        help="engine precision (default: the bundle's; int8 needs an int8-trt bundle)")
    engine.add_argument("--workspace", type=positive_int, default=None, metavar="MB",
                        help="workspace memory limit in MB")
    engine.add_argument("--dla", type=int, default=None, metavar="N",
                        help="build for DLA core N (Jetson AGX Orin / Orin NX; fp16 or int8 only, "
                             "static batch, GPU fallback; not with TensorRT 11.0-11.3)")
    engine.add_argument("--device", type=int, default=0, metavar="N",
                        help="CUDA device to build on (engines are tied to its GPU)")
    engine.add_argument("--timing-cache", type=Path, default=None, metavar="FILE",
                        help="timing cache file, reused and updated (faster rebuilds)")
    engine.add_argument("--max-lesions", type=positive_int, default=None, metavar="N",
                        help="most lesions classified a frame (default: the bundle's max_lesions); "
                             "the classifier's batch is twice this with classifier_hflip")
    engine.set_defaults(func=_cmd_build_engine)
