"""Fuzzed OpenIGTLink byte streams from a real TCP server on 127.0.0.1: valid IMAGE messages,
mutated headers and image headers, truncations and raw bytes, in any order. The client only
ever returns a message or raises a SourceError subclass, and never buffers beyond the limit."""

from __future__ import annotations

import queue
import socket
import struct
import time

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pytest.importorskip("pyigtl", reason="the igtl source needs pyigtl (pip install 'edge-sdk[sources]')")

from edge_sdk.errors import SourceDisconnected, SourceError
from edge_sdk.sources.base import RawFrame
from edge_sdk.sources.igtl import IgtlConnection, image_to_frame
from edge_sdk.sources.igtl_wire import HEADER_SIZE, IgtlMessageError
from tests.fuzz.conftest import SEEN, fuzz_settings
from tests.sources.igtl_peers import RawServer, header, image_body, image_message

LIMIT = 1 << 16  # 64 KiB: small, so that over-limit headers are easy to draw


def _valid(draw: st.DrawFn) -> bytes:
    rows, cols = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    components = draw(st.sampled_from([1, 3, 4]))
    shape = (rows, cols, components) if components > 1 else (rows, cols)
    pixels = np.full(shape, draw(st.integers(0, 255)), np.uint8)
    body = image_body(size=(cols, rows, 1), components=components, data=pixels.tobytes())
    return header(b"IMAGE", draw(st.sampled_from([b"Image", b"Probe", b"\xff\xfe", b""])),
                  len(body)) + body


def _mutated(draw: st.DrawFn) -> bytes:
    message = bytearray(_valid(draw))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, HEADER_SIZE + 72 - 1))  # the two headers
        message[at] = draw(st.integers(0, 255))
    return bytes(message)


def _image_header(draw: st.DrawFn) -> bytes:
    size = tuple(draw(st.integers(0, 65535)) for _ in range(3))
    body = image_body(size=size, components=draw(st.integers(0, 255)),
                      scalar=draw(st.integers(0, 255)), endian=draw(st.integers(0, 255)),
                      data=draw(st.binary(max_size=64)))
    version = draw(st.integers(0, 4))
    return struct.pack(">H12s20sIIQQ", version, b"IMAGE", b"Image", 0, 0, len(body), 0) + body


@st.composite
def chunks(draw: st.DrawFn) -> list[bytes]:
    kinds = st.sampled_from(["valid", "mutated", "image_header", "raw", "big", "truncated",
                             "other"])
    out = []
    for kind in draw(st.lists(kinds, min_size=1, max_size=5)):
        if kind == "valid":
            out.append(_valid(draw))
        elif kind == "mutated":
            out.append(_mutated(draw))
        elif kind == "image_header":
            out.append(_image_header(draw))
        elif kind == "raw":
            out.append(draw(st.binary(min_size=1, max_size=200)))
        elif kind == "big":
            out.append(header(b"IMAGE", b"Image", draw(st.integers(LIMIT + 1, 2**64 - 1))))
        elif kind == "truncated":
            message = _valid(draw)
            out.append(message[: draw(st.integers(0, len(message) - 1))])
        else:
            body = draw(st.binary(max_size=80))
            kind_name = draw(st.sampled_from([b"STRING", b"TRANSFORM", b"STATUS", b"POSITION"]))
            out.append(header(kind_name, b"x", len(body), version=draw(st.integers(1, 2))) + body)
    return out


@pytest.fixture(scope="module")
def server():
    """One raw server; each connection sends the stream queued for it, then closes."""
    streams: queue.Queue[list[bytes]] = queue.Queue()

    def script(conn: socket.socket, n: int) -> None:
        for chunk in streams.get(timeout=10.0):
            conn.sendall(chunk)

    with RawServer(script) as raw:
        raw.streams = streams  # type: ignore[attr-defined]
        yield raw


def _drain(server: RawServer, stream: list[bytes]) -> None:
    server.streams.put(stream)  # type: ignore[attr-defined]
    SEEN["igtl streams"] += 1
    connection = IgtlConnection("127.0.0.1", server.port, max_message_bytes=LIMIT)
    connection.connect()
    deadline = time.monotonic() + 10.0
    try:
        while time.monotonic() < deadline:
            assert len(connection._buffer) <= HEADER_SIZE + LIMIT + (1 << 20)
            try:
                message = connection.receive(2.0)
            except IgtlMessageError:
                continue  # one message skipped; the link goes on
            except SourceDisconnected:
                return  # closed by the server, or framing lost: the runtime reconnects
            if message is None:
                return  # the server is done and idle
            if message.message_type == "IMAGE":
                try:
                    assert isinstance(image_to_frame(message), RawFrame)
                except SourceError:
                    pass
        raise AssertionError("the stream did not end")
    finally:
        connection.close()


@fuzz_settings(150)
@given(stream=chunks())
@example(stream=[header(b"IMAGE", b"Image", 2**62)])
@example(stream=[image_message(size=(0, 0, 1), data=b"")])
@example(stream=[image_message(size=(65535, 65535, 1), data=b"\0" * 100)])
def test_byte_streams_give_messages_or_typed_errors(server: RawServer, stream: list[bytes]) -> None:
    _drain(server, stream)
