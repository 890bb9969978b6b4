"""The server as a separate process: killed, frozen and restarted; ``run --server``; the
exported repository on the bundled ``tritonserver``; the shipped bundle over 100 frames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.serving.conftest import free_ports, require_server, serve_config

require_server()

from edge_sdk.bundle import default_bundle_path  # noqa: E402
from edge_sdk.cli import main  # noqa: E402
from edge_sdk.errors import FrameError, ServerUnavailable, ServingError  # noqa: E402
from edge_sdk.pipeline import Pipeline  # noqa: E402
from edge_sdk.serving import Client, PipelineServer  # noqa: E402
from edge_sdk.serving.compat import check_interpreter, triton_dist  # noqa: E402
from edge_sdk.serving.repository import export_repository  # noqa: E402
from edge_sdk.serving.tritonbin import TritonProcess  # noqa: E402
from edge_sdk.sources import source_from_uri  # noqa: E402
from edge_sdk.testing import synthetic_frame  # noqa: E402


class ServeProcess:
    """``edge-sdk serve`` in a session of its own, so that a kill takes its tritonserver too."""

    def __init__(self, bundle: Path, ports: list[int], log: Path) -> None:
        self.args = [sys.executable, "-m", "edge_sdk", "serve", "--bundle", str(bundle),
                     "--http-port", str(ports[0]), "--grpc-port", str(ports[1]),
                     "--metrics-port", str(ports[2])]
        self.log, self.ports = log, ports
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        Client(f"http://127.0.0.1:{self.ports[0]}").wait_ready(120)
        return self

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait(30)
            # a killed PyTriton cannot remove its tensor store from /dev/shm: do it here
            for leftover in Path("/dev/shm").glob(f"pytrtion{self.process.pid}-*"):
                leftover.unlink(missing_ok=True)


@pytest.fixture()
def serve_process(tiny_bundle_dir: Path, tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(tiny_bundle_dir, free_ports(), tmp_path / "serve.log")
    try:
        yield server.start()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.signal(signal.SIGCONT)
        server.kill()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_killed_server_is_a_clear_error_then_a_reconnect(serve_process: ServeProcess,
                                                         protocol: str) -> None:
    port = serve_process.ports[0 if protocol == "http" else 1]
    client = Client(f"{protocol}://127.0.0.1:{port}", timeout_s=3.0)
    frame = synthetic_frame(120, 160, lesions=[(80, 60, 20, 15)])
    before = client.process(frame)
    serve_process.kill()
    start = time.monotonic()
    with pytest.raises(ServerUnavailable, match="unavailable.*Fix: start the server"):
        client.process(frame)
    assert time.monotonic() - start < 10.0  # an error, never a hang
    serve_process.start()  # the same ports again
    after = client.process(frame)
    assert after.lesions == before.lesions and client.reconnects >= 1


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_frozen_server_times_out_instead_of_hanging(serve_process: ServeProcess,
                                                    protocol: str) -> None:
    port = serve_process.ports[0 if protocol == "http" else 1]
    client = Client(f"{protocol}://127.0.0.1:{port}", timeout_s=2.0)
    frame = synthetic_frame(120, 160)
    client.process(frame)
    serve_process.signal(signal.SIGSTOP)  # alive, listening, answering nothing
    try:
        start = time.monotonic()
        with pytest.raises(ServerUnavailable):
            client.process(frame)
        assert time.monotonic() - start < 8.0
    finally:
        serve_process.signal(signal.SIGCONT)
    deadline = time.monotonic() + 30
    while True:  # the thawed server answers again through a fresh connection
        try:
            client.process(frame)
            break
        except ServerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _frames_of(uri: str, count: int) -> list[np.ndarray]:
    source = source_from_uri(uri).open()
    try:
        return [source.read(timeout=5).pixels for _ in range(count)]
    finally:
        source.close()


def test_shipped_bundle_equal_on_100_frames() -> None:
    """The issue's target: results through Triton equal the in-process results, 100 frames."""
    frames = _frames_of("synthetic://?fps=0&size=640x480&seed=5&lesions=2", 100)
    config = serve_config(default_bundle_path(), instances=1, threads=1)
    with PipelineServer(config) as server, Client(f"grpc://{server.grpc_url}") as client, \
            Pipeline(default_bundle_path(), backend_options={"threads": 1}) as pipeline:
        with_lesions = 0
        for frame in frames:
            remote, local = client.process(frame), pipeline.process(frame)
            np.testing.assert_array_equal(remote.mask, local.mask)
            assert remote.lesions == local.lesions
            assert remote.lesions_over_limit == local.lesions_over_limit
            with_lesions += bool(local.lesions)
    assert with_lesions > 10  # the comparison covered real lesions, not only empty masks


def _jsonl(path: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["frame_index"]: {k: r[k] for k in ("frame_hw", "mask_px", "lesions",
                                                 "lesions_over_limit", "imaging_region")
                               if k in r} for r in rows}


def test_run_with_server_streams_the_same_results(tiny_server: PipelineServer, tmp_path: Path,
                                                  tiny_bundle_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny_server.bundle is not None
    source = ["--source", "synthetic://?fps=0&frames=20&size=320x240&seed=2", "--policy", "block"]
    assert main(["run", *source, "--bundle", str(tiny_server.bundle.root), "--threads", "1",
                 "--jsonl", str(tmp_path / "local.jsonl")]) == 0
    capsys.readouterr()
    assert main(["run", *source, "--server", f"grpc://{tiny_server.grpc_url}",
                 "--jsonl", str(tmp_path / "remote.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "processed 20 frame(s), failed 0" in err and "summary: {" in err
    assert f"digest {tiny_server.bundle.digest[:12]}" in err
    local, remote = _jsonl(tmp_path / "local.jsonl"), _jsonl(tmp_path / "remote.jsonl")
    assert len(local) == 20 and remote == local


def test_run_with_no_server_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_ports(1)[0]
    start = time.monotonic()
    code = main(["run", "--source", "synthetic://?fps=0&frames=3", "--server",
                 f"http://127.0.0.1:{port}"])
    assert code == 1 and "not ready after" in capsys.readouterr().err
    assert time.monotonic() - start < 60


def test_exported_python_repository_serves_the_same_results(tiny_bundle_dir: Path,
                                                            tmp_path: Path) -> None:
    """The python variant of export-triton on the bundled tritonserver: the BLS pipeline model
    calling the segmenter and classifier models answers as the in-process pipeline."""
    root = export_repository(tiny_bundle_dir, tmp_path / "repo")["python"]
    http, grpc, metrics = free_ports()
    frames = [synthetic_frame(240, 320, lesions=[(160, 120, 30, 20), (60, 60, 15, 12)]),
              synthetic_frame(100, 90), np.dstack([synthetic_frame(64, 80)] * 3)]
    with TritonProcess(root, http, grpc, metrics) as server, \
            Pipeline(tiny_bundle_dir, backend_options={"threads": 1}) as pipeline:
        for url in (f"http://127.0.0.1:{http}", f"grpc://127.0.0.1:{grpc}"):
            client = Client(url)
            assert client.wait_ready(60).bundle_name == "tiny-test"
            for frame in frames:
                remote, local = client.process(frame), pipeline.process(frame)
                np.testing.assert_array_equal(remote.mask, local.mask)
                assert remote.lesions == local.lesions
            with pytest.raises(FrameError, match="10x10"):
                client.process(np.zeros((10, 10), np.uint8))
        assert "edge_sdk_segmenter" in server.log.read_text()


def test_this_interpreter_matches_the_stub() -> None:
    assert check_interpreter() == f"{sys.version_info[0]}.{sys.version_info[1]}." + \
        check_interpreter().split(".")[2]


def test_another_build_of_the_interpreter_is_explained() -> None:
    """pyenv's 3.11.7 over Debian's 3.11.2 libpython: refused before the model load fails."""
    with pytest.raises(ServingError, match=r"_recursion_count.*Fix: .*/usr/bin/python3 -m venv"):
        check_interpreter(triton_dist(), version="3.11.99")


def _children_of(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,comm="], capture_output=True, text=True, check=True)
    return [line.split(None, 1)[1] for line in out.stdout.splitlines()
            if line.split() and int(line.split()[0]) == pgid]


def test_sigterm_stops_the_server_and_its_tritonserver(serve_process: ServeProcess) -> None:
    assert serve_process.process is not None
    pgid = serve_process.process.pid
    assert "tritonserver" in _children_of(pgid)
    serve_process.signal(signal.SIGTERM)
    assert serve_process.process.wait(60) == 0
    deadline = time.monotonic() + 30
    while "tritonserver" in _children_of(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "tritonserver" not in _children_of(pgid)


def test_serve_repository_command(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """``edge-sdk serve --repository OUT/python``: the exported repository from the command line."""
    root = export_repository(tiny_bundle_dir, tmp_path / "repo")["python"]
    ports = free_ports()
    args = [sys.executable, "-m", "edge_sdk", "serve", "--repository", str(root),
            "--http-port", str(ports[0]), "--grpc-port", str(ports[1]),
            "--metrics-port", str(ports[2])]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        client = Client(f"grpc://127.0.0.1:{ports[1]}")
        assert client.wait_ready(120).bundle_name == "tiny-test"
        with Pipeline(tiny_bundle_dir, backend_options={"threads": 1}) as pipeline:
            frame = synthetic_frame(160, 200, lesions=[(100, 80, 25, 20)])
            assert client.process(frame).lesions == pipeline.process(frame).lesions
        # the server answers a moment before the command's own readiness poll sees it: stop it
        # once it says it is serving (a stop while it loads is test_interrupted_while_loading)
        deadline = time.monotonic() + 30
        while "serving" not in (tmp_path / "serve.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(60) == 130  # interrupted: the command's exit code for Ctrl-C
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    assert "serving" in (tmp_path / "serve.log").read_text()


def _servers_of(repository: Path) -> list[int]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True)
    return [int(line.split(None, 1)[0]) for line in out.stdout.splitlines()
            if "tritonserver" in line and f"--model-repository={repository}" in line]


def test_interrupted_at_ready_stops_the_server(tiny_bundle_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C or SIGTERM in the moment the server became ready, before ``with`` has entered:
    the tritonserver it started (in a session of its own, out of reach of a signal to the
    command) is stopped, not left running with its models loaded."""
    from edge_sdk.serving.tritonbin import TritonProcess

    root = export_repository(tiny_bundle_dir, tmp_path / "repo")["python"]
    ready = TritonProcess._wait_ready

    def ready_then_interrupted(self: TritonProcess) -> None:
        ready(self)
        assert _servers_of(root)
        raise KeyboardInterrupt

    monkeypatch.setattr(TritonProcess, "_wait_ready", ready_then_interrupted)
    ports = free_ports()
    server = TritonProcess(root, http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2])
    try:
        with pytest.raises(KeyboardInterrupt), server:
            pass
        assert server.process is None and not _servers_of(root)
    finally:
        for pid in _servers_of(root):
            os.kill(pid, signal.SIGKILL)
