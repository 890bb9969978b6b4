"""The ``edge-sdk`` command: ``info``, ``run``, ``view``, ``eval``, ``bench`` and ``build-engine``.

Each command lives in its own module (``cmd_<name>.py``) with its ``add_parser``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_sdk.cli import cmd_bench, cmd_engine, cmd_eval, cmd_info, cmd_run, cmd_serve, cmd_view
from edge_sdk.cli.common import Parser
from edge_sdk.errors import EdgeSDKError

COMMANDS = (cmd_info, cmd_run, cmd_view, cmd_eval, cmd_bench, cmd_engine, cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="edge-sdk", description="Run a breast-ultrasound model bundle: "
                    "segment the lesion, crop it, classify it.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
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
