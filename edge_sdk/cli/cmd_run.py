"""``edge-sdk run``: the pipeline over a live source, a video, a DICOM cine or images."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.cmd_serve import open_remote
from edge_sdk.cli.common import (
    add_backend_args,
    open_pipeline,
    positive_int,
)
from edge_sdk.errors import ConfigError
from edge_sdk.viewer.options import add_view_args, close_viewer, open_viewer


class Progress:
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
    from edge_sdk.streaming.stats import LatencyHistogram, check_accounting
    from edge_sdk.timing import format_table

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
    latencies, n_lesions = LatencyHistogram(), 0  # fixed memory: a list grew every frame
    progress = Progress(sys.stderr)
    runner = viewer = budget = None
    try:
        # --server: the same stream, each frame processed by a remote server
        with open_remote(args) if args.server else open_pipeline(args) as pipeline:
            budget = getattr(pipeline, "thread_budget", None)  # a remote server has none
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

                igtl = source if isinstance(source, IgtlSource) else None
                same = igtl is not None and parse_host_port(args.igtl_out, "--igtl-out") == (
                    igtl.connection.host, igtl.connection.port)
                output = (IgtlOutput(connection=igtl.connection) if igtl is not None and same
                          else IgtlOutput(args.igtl_out)).open()
            jsonl = open(args.jsonl, "w", encoding="utf-8") if args.jsonl else None
            fps = source.nominal_fps or getattr(source, "file_fps", None) or 10.0
            viewer = open_viewer(args, pipeline, source, runner)  # None without --view
            with runner:
                for item in runner:
                    result = item.result
                    latencies.add(result.latency_ms)
                    n_lesions += len(result.lesions)
                    if jsonl:
                        name = item.info.get("name") or f"{source.kind}#{item.frame_index}"
                        jsonl.write(json.dumps({"source": name, **result.to_dict()}) + "\n")
                    if output is not None:
                        output.send(result)
                    if viewer is not None:
                        viewer.publish(item)  # keeps a reference; draws in its own thread
                    if args.save is not None:  # only the imaging area is ever recorded
                        canvas = draw_overlay(item.image, result, pipeline.params.positive_class)
                        if writer is None:
                            size = (canvas.shape[1], canvas.shape[0])
                            args.save.parent.mkdir(parents=True, exist_ok=True)
                            writer = cv2.VideoWriter(str(args.save), cv2.VideoWriter.fourcc(*"mp4v"),
                                                     fps, size)
                            if not writer.isOpened():
                                raise ConfigError(f"cannot write the video {args.save}")
                        if (canvas.shape[1], canvas.shape[0]) != size:
                            canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
                        writer.write(canvas)
                    progress.update(runner.stats)
            check_accounting(runner.stats)  # every captured frame ended somewhere, once
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
            if budget is not None:
                print(f"threads: {budget.describe()}", file=sys.stderr)
                summary["threads"] = budget.to_dict()
            if output is not None:
                summary.update(igtl_sent=output.sent, igtl_failed=output.failed)
            close_viewer(viewer, summary)
            print("summary: " + json.dumps(summary), file=sys.stderr)
            if latencies:
                print(format_table(latencies.summary()), file=sys.stderr)
    return 1 if runner is not None and runner.stats.failures else 0


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run the pipeline over a live source, video, DICOM cine or images")
    add_run_args(run)
    run.set_defaults(func=_cmd_run)


def add_run_args(run: argparse.ArgumentParser, source: str | None = None) -> None:
    """The options of ``run``; ``edge-sdk view`` takes them too, with a default source."""
    run.add_argument("--source", required=source is None, default=source,
                     help="a path (image, folder, video, .dcm) or a URI: synthetic://?fps=30, "
                          "file:scan.mp4?pace=1, images:DIR, v4l2:///dev/video0?fourcc=MJPG&"
                          "size=1920x1080&fps=30, 'gst:... ! appsink', dicom:cine.dcm, "
                          "igtl://127.0.0.1:18944?device=Image")
    add_backend_args(run)
    run.add_argument("--save", type=Path, default=None, help="write an overlay video (e.g. out.mp4)")
    run.add_argument("--jsonl", type=Path, default=None, help="write one JSON line per frame")
    run.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    run.add_argument("--policy", default=None,
                     help="hand-off policy latest | queue(N) | block (default: latest for live "
                          "sources, block for files, folders and DICOM)")
    run.add_argument("--region", default="default",
                     help="imaging area to crop to: auto | source | none | x0,y0,x1,y1 (default: "
                          "auto for live sources and the simulator, source for DICOM, none for "
                          "files and folders)")
    run.add_argument("--smooth", type=positive_int, default=None, metavar="K",
                     help="temporal smoothing: report a lesion after K consecutive frames")
    run.add_argument("--stall-timeout", type=float, default=2.0,
                     help="seconds without a frame before the source is reported stalled")
    run.add_argument("--server", default=None, metavar="URL",
                     help="process the frames on an edge-sdk serve / Triton server instead of "
                          "in this process: http://HOST:8000 or grpc://HOST:8001")
    run.add_argument("--igtl-out", default=None, metavar="HOST:PORT",
                     help="send results over OpenIGTLink (label map IMAGE + scores STRING)")
    add_view_args(run)
