"""The command line's viewer options, and how ``edge-sdk run`` opens its viewer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_sdk.errors import ConfigError
from edge_sdk.viewer.address import TOKEN_ENV, ViewAddress, parse_view_address


def _address(text: str) -> ViewAddress:
    try:
        return parse_view_address(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= 60:
        raise argparse.ArgumentTypeError(f"expected frames a second in 0.5-60, got {text}")
    return value


def add_view_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--view", type=_address, default=None, metavar="[HOST:]PORT",
                        help="serve a live page (overlay, lesions, latency, counters) on PORT of "
                             "127.0.0.1, or of HOST (0.0.0.0: every interface); needs the 'view' "
                             "extra")
    parser.add_argument("--view-token", default=None, metavar="TOKEN",
                        help=f"access token the page requires (default: ${TOKEN_ENV}; a random "
                             "one when HOST is not loopback)")
    parser.add_argument("--view-fps", type=_rate, default=15.0, metavar="N",
                        help="most frames a second the page is sent (default 15); a slower "
                             "browser gets fewer")


def thread_description(pipeline: Any) -> str:
    """What the run's sessions were given: the thread budget when the pipeline has one,
    else each net's thread count."""
    budget = getattr(pipeline, "thread_budget", None)
    if budget is not None and hasattr(budget, "describe"):
        return str(budget.describe())
    parts = []
    for role in ("segmenter", "classifier"):
        threads = getattr(getattr(pipeline, role, None), "threads", None)
        if threads is not None:
            parts.append(f"{role} {threads}")
    return ", ".join(parts) or "backend default"


def open_viewer(args: argparse.Namespace, pipeline: Any, source: Any, runner: Any) -> Any:
    """Start the viewer that ``--view`` asks for (``None`` without it) and print its URL."""
    address = getattr(args, "view", None)
    if address is None:
        return None
    from edge_sdk.viewer.live import LiveViewer

    bundle = pipeline.bundle
    info = {"source": source.describe(), "backend": pipeline.backend_kind,
            "threads": thread_description(pipeline),
            "bundle": f"{bundle.manifest.name} {bundle.manifest.version}",
            "bundle_digest": bundle.digest, "smooth": args.smooth, "policy": str(runner.policy)}
    viewer = LiveViewer(address, token=args.view_token, info=info, stats=lambda: runner.stats,
                        positive_class=pipeline.params.positive_class, max_fps=args.view_fps)
    viewer.start()
    print(f"viewer: {viewer.url}", file=sys.stderr, flush=True)
    return viewer


def close_viewer(viewer: Any, summary: dict[str, Any]) -> None:
    """Show the final summary on the open pages, add the viewer's counters to it, stop."""
    if viewer is None:
        return
    viewer.finish(summary)
    viewer.close()
    counters = viewer.counters()
    summary.update(view_frames_encoded=counters["encoded"], view_skipped=counters["skipped"],
                   view_withheld=counters["withheld"], view_cpu_s=counters["cpu_s"])
