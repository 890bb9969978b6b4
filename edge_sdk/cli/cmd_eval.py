"""``edge-sdk eval``: metrics of a bundle on a dataset split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_sdk.cli.common import (
    add_backend_args,
    open_pipeline,
)
from edge_sdk.errors import ConfigError


def _cmd_eval(args: argparse.Namespace) -> int:
    from edge_sdk.dataset import load_samples
    from edge_sdk.evaluate import evaluate

    samples = load_samples(args.data, args.split)
    if not samples:
        raise ConfigError(f"no samples in {args.data} for split {args.split!r}")
    with open_pipeline(args) as pipeline:
        report = evaluate(pipeline, samples, progress=not args.no_progress, intervals=True)
    report.update(data=str(args.data), split=args.split)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="Dice/IoU/AUC/... of a bundle on a dataset split")
    ev.add_argument("--data", type=Path, required=True,
                    help="dataset folder (images/, masks/, labels.csv, splits.csv)")
    ev.add_argument("--split", default="test", help="split of splits.csv (default: test)")
    add_backend_args(ev)
    ev.add_argument("--json", type=Path, default=None, help="also write the report here")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_eval)
