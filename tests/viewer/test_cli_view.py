"""``edge-sdk run --view`` and ``edge-sdk view`` on the command line (tiny bundle, no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_sdk.cli import build_parser, main
from edge_sdk.cli.cmd_view import DEFAULT_SOURCE
from edge_sdk.viewer.address import ViewAddress


def test_view_defaults_to_the_simulator_on_loopback() -> None:
    args = build_parser().parse_args(["view"])
    assert args.source == DEFAULT_SOURCE and args.view is None and args.view_fps == 15.0
    args = build_parser().parse_args(["run", "--source", "x.mp4", "--view", "9000"])
    assert args.view == ViewAddress("127.0.0.1", 9000)


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--source", "x.mp4", "--view", "host:port"], "expected [HOST:]PORT"),
    (["run", "--source", "x.mp4", "--view", "1", "--view-fps", "0"], "frames a second in 0.5-60"),
    (["run"], "--source"),
])
def test_bad_view_arguments(argv: list[str], message: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_view_runs_and_reports_its_counters(tiny_bundle_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["view", "--bundle", str(tiny_bundle_dir), "--view", "127.0.0.1:0",
                 "--source", "synthetic://?fps=0&size=320x240&frames=6", "--max-frames", "6"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "viewer: http://127.0.0.1:" in err and "token" not in err  # loopback: no token
    summary = json.loads(next(line for line in err.splitlines()
                              if line.startswith("summary: "))[len("summary: "):])
    assert summary["processed"] == 6
    # no browser looked: the viewer drew nothing and skipped every result
    assert (summary["view_frames_encoded"], summary["view_skipped"]) == (0, 6)


def test_a_busy_port_is_a_one_line_error(tiny_bundle_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--bundle", str(tiny_bundle_dir), "--view", f"127.0.0.1:{port}",
                     "--source", "synthetic://?fps=0&size=320x240&frames=2"])
    err = capsys.readouterr().err
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "Fix:" in err
