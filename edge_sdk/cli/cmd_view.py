"""``edge-sdk view``: ``run`` with the live viewer on, over the probe simulator by default."""

from __future__ import annotations

import argparse
from typing import Any

from edge_sdk.cli import cmd_run
from edge_sdk.viewer.address import ViewAddress

DEFAULT_SOURCE = "synthetic://?fps=30"


def _cmd_view(args: argparse.Namespace) -> int:
    if args.view is None:
        args.view = ViewAddress()
    return cmd_run._cmd_run(args)


def add_parser(sub: Any) -> None:
    view = sub.add_parser("view", help="watch the pipeline live in a browser (the probe simulator "
                          "unless --source is given); takes every option of run")
    cmd_run.add_run_args(view, source=DEFAULT_SOURCE)
    view.set_defaults(func=_cmd_view)
