"""OpenIGTLink as an untrusted peer: raw TCP servers on 127.0.0.1 sending what a broken or
hostile server would. Every case of the robustness review: a typed, counted error, no traceback,
memory bounded by the message limit, and reconnects that really back off."""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyigtl", reason="the igtl source needs pyigtl (pip install 'edge-sdk[sources]')")

from edge_sdk.errors import SourceError
from edge_sdk.igtl_output import IgtlOutput
from edge_sdk.pipeline import Pipeline
from edge_sdk.sources import source_from_uri
from edge_sdk.sources.igtl import IgtlConnection, IgtlSource
from edge_sdk.sources.igtl_wire import IgtlMessageError, IgtlProtocolError
from edge_sdk.streaming import StreamRunner
from edge_sdk.streaming.stats import check_accounting
from tests.interrupt import interruptible
from tests.sources.igtl_peers import (
    RawServer,
    gray,
    header,
    image_message,
    send_then_hold,
)

RANDOM = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
HTTP = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n"
        b"not found")


def _receive(connection: IgtlConnection, seconds: float = 5.0) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = connection.receive(0.2)
        if message is not None:
            return message
    raise AssertionError("no message within the test's deadline")


MALFORMED = [
    ("random bytes", [RANDOM], IgtlProtocolError, "not an OpenIGTLink header"),
    ("body_size 2^62", [header(b"IMAGE", b"Image", 2**62), b"x" * 4096], IgtlProtocolError,
     "4611686018427387904 bytes; the limit is 1048576"),
    ("HTTP answer", [HTTP], IgtlProtocolError, "not an OpenIGTLink header"),
    ("non-UTF-8 device name", [image_message(gray(), device=b"\xff\xfeImage")], IgtlMessageError,
     "not UTF-8"),
    ("65535x65535 with a small body", [image_message(size=(65535, 65535, 1), data=b"\0" * 100)],
     IgtlMessageError, "4294836225 bytes of pixels, but 100 bytes followed"),
    ("body shorter than its image", [image_message(gray(), data=b"\0" * 10)], IgtlMessageError,
     "5120 bytes of pixels, but 10"),
    ("0x0 image", [image_message(size=(0, 0, 1), data=b"")], IgtlMessageError, "at least 1"),
    ("sub-volume", [image_message(gray(), sub=(10, 10, 1))], IgtlMessageError, "sub-volume"),
    ("unknown pixel type", [image_message(gray(), scalar=99)], IgtlMessageError, "scalar type 99"),
    ("shorter than an image header", [header(b"IMAGE", b"Image", 10) + b"\0" * 10],
     IgtlMessageError, "shorter than the 72-byte image header"),
    ("version 2 without extended header", [header(b"IMAGE", b"Image", 8, version=2) + b"\0" * 8],
     IgtlMessageError, "shorter than its extended header"),
    ("TRANSFORM of 5 bytes", [header(b"TRANSFORM", b"T", 5) + b"\0" * 5], IgtlMessageError,
     "pyigtl cannot decode"),
]


@pytest.mark.parametrize(("case", "chunks", "error", "words"), MALFORMED,
                         ids=[row[0] for row in MALFORMED])
def test_each_malformed_message_is_one_typed_counted_error(case, chunks, error, words):
    with RawServer(send_then_hold(chunks, hold_s=5.0)) as server:
        connection = IgtlConnection("127.0.0.1", server.port, max_message_bytes=1 << 20)
        connection.connect()
        try:
            with pytest.raises(error, match=words.replace("(", r"\(")) as info:
                _receive(connection)
            # one bad message keeps the link; lost framing drops it
            assert connection.connected is (error is IgtlMessageError)
        finally:
            connection.close()
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)
    assert connection.malformed_messages == 1


def test_the_stream_goes_on_after_a_malformed_message():
    chunks = [image_message(size=(0, 0, 1), data=b""), image_message(gray(), device=b"\xffx"),
              image_message(gray(77))]
    with RawServer(send_then_hold(chunks, hold_s=5.0)) as server:
        with IgtlSource("127.0.0.1", server.port) as source:
            errors = []
            for _ in range(3):
                try:
                    frame = source.read(timeout=5.0)
                except IgtlMessageError as exc:
                    errors.append(exc)
            assert len(errors) == 2 and int(frame.pixels[0, 0]) == 77
            assert source.malformed_messages == 2


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def _flood(conn: socket.socket, n: int) -> None:
    """A header announcing 2^62 bytes, then bytes as fast as the socket takes them."""
    conn.sendall(header(b"IMAGE", b"Image", 2**62))
    junk = b"\xab" * (1 << 20)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        conn.sendall(junk)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc")
def test_a_hostile_peer_cannot_raise_rss_beyond_the_message_limit(tiny_bundle_dir):
    limit_mb = 8
    with RawServer(_flood) as server, Pipeline(tiny_bundle_dir) as pipeline:
        source = IgtlSource("127.0.0.1", server.port, max_message_mb=limit_mb)
        samples: list[float] = []
        baseline = _rss_mib()
        with StreamRunner(pipeline, source, backoff=(0.05, 0.5)) as runner:
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline:
                samples.append(_rss_mib())
                time.sleep(0.02)
        stats = runner.stats
    growth = max(samples) - baseline
    # the limit, one 1 MiB read, and slack for the interpreter and the runner's threads
    assert growth < limit_mb + 1 + 16, f"RSS grew {growth:.1f} MiB"
    assert stats.source_errors >= 2 and stats.reconnects >= 2 and stats.captured == 0
    assert any("limit is 8388608" in e for e in stats.errors)
    check_accounting(stats)


def test_reconnects_back_off_against_a_server_that_answers_http(tiny_bundle_dir):
    def http(conn: socket.socket, n: int) -> None:
        conn.sendall(HTTP)

    with RawServer(http) as server, Pipeline(tiny_bundle_dir) as pipeline:
        source = IgtlSource("127.0.0.1", server.port)
        with StreamRunner(pipeline, source, backoff=(0.1, 2.0)) as runner:
            time.sleep(4.0)
        connections = server.connections
    # doubling from 0.1 s to the 2 s cap (x0.5-1 jitter) allows at most ~9 tries in 4 s;
    # without back-off the client reconnected ~40 times in that time
    assert 2 <= connections <= 10, connections
    assert runner.stats.source_errors >= 1 and runner.stats.captured == 0


@pytest.mark.parametrize("kind", [b"STRING", b"STATUS"])  # known to pyigtl, and not
def test_a_flood_of_other_messages_still_times_out(kind):
    from edge_sdk.sources.base import SourceTimeout

    body = struct.pack(">HH", 3, 5) + b"hello" if kind == b"STRING" else b"\0" * 30
    message = header(kind, b"Other", len(body)) + body

    def flood(conn: socket.socket, n: int) -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            conn.sendall(message * 200)

    with RawServer(flood) as server, IgtlSource("127.0.0.1", server.port) as source:
        start = time.monotonic()
        with pytest.raises(SourceTimeout):
            source.read(timeout=0.3)
        assert time.monotonic() - start < 3.0 and source.skipped_messages + \
            source.connection.messages_received > 0


def test_igtl_uri_without_an_address_is_refused():
    with pytest.raises(SourceError, match=r"names no server.*Fix:"):
        source_from_uri("igtl://")
    with pytest.raises(SourceError, match="max_mb"):
        source_from_uri("igtl://127.0.0.1:1?max_mb=nan")


def test_output_backs_off_exponentially_with_jitter_and_a_cap():
    from edge_sdk.results import FrameResult, StageLatency

    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    result = FrameResult(0, 0.0, np.zeros((40, 40), np.uint8), [], StageLatency())
    output = IgtlOutput(f"127.0.0.1:{port}", retry_s=0.01, max_retry_s=0.08)
    waits = []
    for _ in range(7):
        output._last_try = float("-inf")  # the wait has passed: try to connect now
        assert output.send(result) is False
        waits.append(output._wait)
    assert output.send(result) is False  # within the wait: counted, no connection attempt
    assert output.failed == 8 and output.sent == 0
    for i, wait in enumerate(waits):  # 0.01, 0.02, 0.04, 0.08, 0.08 ... times 0.5-1
        ceiling = min(0.01 * 2**i, 0.08)
        assert ceiling / 2 <= wait <= ceiling, (i, waits)


def test_cli_hostile_sequence_is_counted_without_a_traceback(tiny_bundle_dir):
    chunks = [image_message(gray(60)), image_message(size=(0, 0, 1), data=b""),
              image_message(gray(), device=b"\xff\xfe"),
              image_message(size=(65535, 65535, 1), data=b"\0" * 64),
              image_message(gray(61))]
    with RawServer(send_then_hold(chunks, hold_s=20.0)) as server:
        out = subprocess.run(
            [sys.executable, "-m", "edge_sdk", "run", "--source", f"igtl://{server.address}",
             "--bundle", str(tiny_bundle_dir), "--max-frames", "2", "--policy", "block"],
            capture_output=True, text=True, timeout=90, check=False)
    assert "Traceback" not in out.stderr, out.stderr
    summary = json.loads(out.stderr.split("summary: ", 1)[1].splitlines()[0])
    assert summary["processed"] == 2 and summary["source_errors"] == 3, summary
    assert summary["captured"] == summary["processed"] + summary["failed"] + \
        summary["dropped_in_runtime"] + summary["discarded_at_stop"]
    assert out.returncode == 1  # failed reads make the run's exit code 1


def test_cli_ctrl_c_during_a_flood_prints_the_summary(tiny_bundle_dir):
    with RawServer(_flood) as server:
        child = subprocess.Popen(
            [sys.executable, "-m", "edge_sdk", "run", "--source",
             f"igtl://{server.address}?max_mb=4", "--bundle", str(tiny_bundle_dir)],
            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
        # a second connection is a reconnect: the models are loaded and the stream runs
        deadline = time.monotonic() + 120.0
        while server.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)  # the flood goes on meanwhile
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    assert "summary: " in err and "Traceback" not in err, err
    summary = json.loads(err.split("summary: ", 1)[1].splitlines()[0])
    assert summary["captured"] == 0 and summary["source_errors"] >= 1
