"""``edge-sdk eval``: metrics of a bundle on a labelled folder (all of it, or one split)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.common import (
    add_backend_args,
    open_pipeline,
)
from edge_sdk.errors import ConfigError, DatasetError

SHOWN_BAD_ROWS = 20  # listed on stderr; the JSON report lists all

EPILOG = """\
A dataset is a folder with images/<id>.png, masks/<id>.png and labels.csv (id,label with label
benign, malignant or normal); splits.csv (id,split) is optional. Without splits.csv every
labelled image is evaluated (--split all); with it the default is the test split.

Rows that cannot be evaluated (an unknown label, a missing image, a lesion without a mask or
with a mask of another size) stop the run with exit status 1 and the list of their ids, before
any image is processed. --skip-bad evaluates the rest instead; the report then counts and lists
the rows left out (n_bad_rows, bad_rows). Nothing is left out silently.

Examples; each needs a labelled folder (BUSI is the project's dataset, not shipped with the package):
  edge-sdk eval --data ../shared/data/busi --split test --json busi-test.json
  edge-sdk eval --data my_scans --skip-bad
"""


def _cmd_eval(args: argparse.Namespace) -> int:
    from edge_sdk.dataset import default_split, scan_samples
    from edge_sdk.evaluate import evaluate

    split = args.split or default_split(args.data)
    samples, bad = scan_samples(args.data, split)
    has_splits = (args.data / "splits.csv").is_file()
    print(f"edge-sdk eval: {args.data}: split {split!r} "
          f"({'of splits.csv' if split != 'all' else 'every row of labels.csv'}"
          f"{'' if has_splits or args.split else ', no splits.csv'}): {len(samples)} images"
          + (f", {len(bad)} bad rows" if bad else ""), file=sys.stderr)
    if bad:
        for row in bad[:SHOWN_BAD_ROWS]:
            print(f"  bad row {row.id}: {row.problem}", file=sys.stderr)
        if len(bad) > SHOWN_BAD_ROWS:
            print(f"  ... and {len(bad) - SHOWN_BAD_ROWS} more", file=sys.stderr)
        if not args.skip_bad:
            raise DatasetError(
                f"{len(bad)} row(s) of {args.data / 'labels.csv'} in split {split!r} cannot be "
                f"evaluated (listed above); expected every row to have a known label, an image "
                "and, for a lesion, a mask of the image's size. Fix: correct those rows, or pass "
                "--skip-bad to evaluate the others (the report counts and lists the rows left out)")
    if not samples:
        raise ConfigError(f"no images to evaluate in {args.data} for split {split!r}; expected "
                          "labelled rows with their images. Fix: check labels.csv and images/")
    with open_pipeline(args) as pipeline:
        report = evaluate(pipeline, samples, progress=not args.no_progress, intervals=True)
    report.update(data=str(args.data), split=split, n_bad_rows=len(bad),
                  bad_rows=[{"id": row.id, "problem": row.problem} for row in bad])
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="Dice/IoU/AUC/... of a bundle on a labelled folder",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("--data", type=Path, required=True,
                    help="dataset folder (images/, masks/, labels.csv, optional splits.csv)")
    ev.add_argument("--split", default=None,
                    help="a split of splits.csv, or 'all' for every labelled image (default: "
                         "test where splits.csv exists, else all)")
    ev.add_argument("--skip-bad", action="store_true",
                    help="evaluate the good rows when some cannot be (they are counted and "
                         "listed in the report); default: stop with their list")
    add_backend_args(ev)
    ev.add_argument("--json", type=Path, default=None, help="also write the report here")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_eval)
