"""Hostile and broken OpenIGTLink peers: raw TCP servers on 127.0.0.1 and message builders.

The servers are real sockets; each accepted connection is handed to a ``script(conn, n)``
that writes whatever bytes the test wants (``n`` counts connections from 0).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

import numpy as np

_HEADER = struct.Struct(">H12s20sIIQQ")
_IMAGE = struct.Struct(">HBBBBHHH12fHHHHHH")


def header(kind: bytes, device: bytes, body_size: int, version: int = 1) -> bytes:
    return _HEADER.pack(version, kind, device, 0, 0, body_size, 0)


def image_body(pixels: np.ndarray | None = None, size: tuple[int, int, int] | None = None,
               components: int = 1, scalar: int = 3, endian: int = 2,
               sub: tuple[int, int, int] | None = None, spacing: float = 0.2,
               data: bytes | None = None) -> bytes:
    """An IMAGE body; ``size`` is (i, j, k) = (columns, rows, slices) as the wire has it."""
    if pixels is not None:
        rows, cols = pixels.shape[:2]
        size = size or (cols, rows, 1)
        data = pixels.astype(np.uint8).tobytes() if data is None else data
    assert size is not None
    matrix = [spacing, 0, 0, 0, spacing, 0, 0, 0, 1, 0, 0, 0]
    head = _IMAGE.pack(1, components, scalar, endian, 1, *size, *matrix, 0, 0, 0,
                       *(sub or size))
    return head + (data or b"")


def image_message(pixels: np.ndarray | None = None, device: bytes = b"Image", **kwargs) -> bytes:
    body = image_body(pixels, **kwargs)
    return header(b"IMAGE", device, len(body)) + body


def gray(value: int = 90, shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


class RawServer:
    """A TCP server on an ephemeral loopback port running ``script`` on each connection."""

    def __init__(self, script: Callable[[socket.socket, int], None]) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(5.0)
        self.sock.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            n, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._run, args=(conn, n), daemon=True).start()

    def _run(self, conn: socket.socket, n: int) -> None:
        try:
            with conn:
                self.script(conn, n)
        except OSError:
            pass  # the client hung up on us: that is what a hostile peer gets


def send_then_hold(chunks: list[bytes], hold_s: float = 30.0) -> Callable[[socket.socket, int], None]:
    """A script: send ``chunks`` once on the first connection, then keep it open (idle)."""
    def script(conn: socket.socket, n: int) -> None:
        if n == 0:
            for chunk in chunks:
                conn.sendall(chunk)
        conn.settimeout(hold_s)
        try:
            conn.recv(1)  # until the client closes
        except (TimeoutError, OSError):
            pass
    return script
