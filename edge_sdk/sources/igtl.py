"""OpenIGTLink client: IMAGE messages from PLUS (PlusServer) or 3D Slicer become frames.

PlusServer wraps most research ultrasound devices (Epiphan grabbers, Telemed, Interson, Clarius,
BK, ...) and serves IMAGE messages, by default on port 18944. pyigtl (the ``sources`` extra)
encodes and decodes the messages; the socket is ours. pyigtl's own client thread keeps only the
latest message per device, treats a closed server as "no message yet" (and spins on it) and
never reports the loss, so it can neither count drops nor trigger a reconnect. Its parser
trusts the peer, so headers and image headers are validated first (:mod:`.igtl_wire`): a
message over the size limit is refused before its body is buffered, and every malformed
message is a typed, counted :class:`~edge_sdk.errors.SourceError`.

pyigtl gives images as (k, j, i) arrays: slices, rows, columns (and components last).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

import cv2
import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import SourceDisconnected, SourceError
from edge_sdk.sources.base import FrameSource, RawFrame
from edge_sdk.sources.igtl_wire import (
    DEFAULT_MAX_MESSAGE_MB,
    HEADER_SIZE,
    Header,
    IgtlMessageError,
    IgtlProtocolError,
    check_image,
    parse_header,
)
from edge_sdk.sources.uri import check_params, parse_number

DEFAULT_PORT = 18944
_RECV = 1 << 20  # one read; the buffer never exceeds a header, the limit and one read


def _pyigtl() -> Any:
    return import_optional("pyigtl", "sources", "The OpenIGTLink source and output")


def parse_host_port(text: str, what: str = "igtl") -> tuple[str, int]:
    """``"127.0.0.1:18944"`` → ``("127.0.0.1", 18944)``; the port defaults to 18944.

    Example:
        >>> parse_host_port("localhost")
        ('localhost', 18944)
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = port, str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SourceError(f"{what}: {text!r} is not HOST:PORT; expected e.g. "
                          f"127.0.0.1:{DEFAULT_PORT}. Fix: give the server's address and port")
    return host, int(port)


class IgtlConnection:
    """One TCP connection speaking OpenIGTLink; reads in one thread, sends from any.

    ``connect()`` may be called again after a loss: the object stays the same, so an output
    sharing it follows the source through reconnections.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, connect_timeout: float = 2.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_MB << 20) -> None:
        self.host, self.port, self.connect_timeout = host, port, connect_timeout
        self.max_message_bytes = max_message_bytes
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._header: Header | None = None
        self._send_lock = threading.Lock()
        self.messages_received = 0
        self.malformed_messages = 0
        """Messages refused as malformed (skipped, or the link dropped), counted."""

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection (closing a previous one)."""
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise SourceDisconnected(
                f"igtl: cannot connect to {self.host}:{self.port} ({exc}). Fix: start PlusServer "
                "(or Slicer's OpenIGTLinkIF server) there, or correct the address"
            ) from exc
        sock.settimeout(None)  # reads wait in select(); sends block until written
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buffer, self._header = sock, bytearray(), None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer, self._header = bytearray(), None  # a half-read message is gone with it
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _lost(self, why: str) -> SourceDisconnected:
        self.close()
        return SourceDisconnected(f"igtl: connection to {self.host}:{self.port} lost ({why})")

    def receive(self, timeout: float | None) -> Any:
        """The next message (a pyigtl message object), or ``None`` if none within ``timeout``.

        Messages of a type pyigtl does not know (e.g. STATUS) are skipped.

        Raises:
            SourceDisconnected: the peer closed the connection or it broke.
            IgtlProtocolError: the peer's bytes are not OpenIGTLink or a message is over the
                limit; the connection is closed (reconnect to go on).
            IgtlMessageError: one malformed message, skipped; the connection stays usable.
        """
        pyigtl = _pyigtl()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._sock is None:
                raise SourceDisconnected(f"igtl: not connected to {self.host}:{self.port}")
            if self._header is None and len(self._buffer) >= HEADER_SIZE:
                try:
                    self._header = parse_header(bytes(self._buffer[:HEADER_SIZE]),
                                                self.max_message_bytes, self._peer())
                except IgtlProtocolError:
                    self.malformed_messages += 1
                    self.close()
                    raise
            header = self._header
            if header is not None and len(self._buffer) >= HEADER_SIZE + header.body_size:
                end = HEADER_SIZE + header.body_size
                body = bytes(self._buffer[HEADER_SIZE:end])
                del self._buffer[:end]
                self._header = None
                self.messages_received += 1
                message = self._decode(pyigtl, header, body)
                if message is not None:
                    return message
                if deadline is not None and time.monotonic() >= deadline:
                    return None  # a flood of unknown types must not hold the caller forever
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self._sock], [], [], remaining)
            except (OSError, ValueError) as exc:
                raise self._lost(str(exc)) from exc
            if not ready:
                return None
            try:
                chunk = self._sock.recv(_RECV)
            except OSError as exc:
                raise self._lost(str(exc)) from exc
            if not chunk:
                raise self._lost("the server closed it")
            self._buffer += chunk

    def _peer(self) -> str:
        return f"{self.host}:{self.port}"

    def _decode(self, pyigtl: Any, header: Header, body: bytes) -> Any:
        """A checked body handed to pyigtl; ``None`` for a type it does not know."""
        try:
            if header.device_name is None:
                raise IgtlMessageError(
                    f"igtl: {self._peer()} sent a {header.message_type} message whose device "
                    "name is not UTF-8 text. Fix: name the device in ASCII on the server")
            message = pyigtl.MessageBase.create_message(header.message_type)
            if message is None:
                return None
            if header.message_type == "IMAGE":
                check_image(header, body, self._peer())
            try:
                message.unpack(header.fields(), body)
            except Exception as exc:  # pyigtl signals bad input in many ways
                raise IgtlMessageError(
                    f"igtl: {self._peer()} sent a {header.message_type} message pyigtl cannot "
                    f"decode ({type(exc).__name__}: {exc}). Fix: check the server's "
                    "OpenIGTLink version and message settings") from exc
        except IgtlMessageError:
            self.malformed_messages += 1
            raise
        return message

    def send(self, message: Any) -> None:
        """Send one pyigtl message. Raises :class:`SourceDisconnected` if the link is down."""
        data = message.pack()
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise SourceDisconnected(f"igtl: not connected to {self.host}:{self.port}")
            try:
                sock.sendall(data)
            except OSError as exc:
                raise self._lost(str(exc)) from exc


def image_to_frame(message: Any) -> RawFrame:
    """Turn a pyigtl IMAGE message into a frame: (k, j, i[, c]) → H×W or H×W×3 BGR, spacing."""
    image = np.asarray(message.image)
    if image.ndim == 4 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.shape[0] != 1:
        raise SourceError(f"igtl: device {message.device_name!r} sent a volume of {image.shape[0]} "
                          "slices; expected a 2D image (1 slice). Fix: send 2D frames (PLUS: "
                          "a 2D image channel)")
    pixels = image[0]
    if pixels.ndim < 2 or pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise SourceError(f"igtl: device {message.device_name!r} sent an image of shape "
                          f"{pixels.shape}; expected rows x columns. Fix: configure PLUS to "
                          "send 2D B-mode images")
    if pixels.dtype != np.uint8:
        raise SourceError(f"igtl: device {message.device_name!r} sent {pixels.dtype} pixels; "
                          "expected uint8. Fix: configure PLUS to send 8-bit B-mode images")
    if pixels.ndim == 3:
        if pixels.shape[2] not in (3, 4):
            raise SourceError(f"igtl: device {message.device_name!r} sent {pixels.shape[2]} "
                              "components; expected 1, 3 (RGB) or 4 (RGBA). Fix: configure "
                              "PLUS to send grayscale or RGB images")
        code = cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGR
        pixels = cv2.cvtColor(pixels, code)
    matrix = np.asarray(message.ijk_to_world_matrix, dtype=np.float64)
    col_mm, row_mm = (float(np.linalg.norm(matrix[:3, axis])) for axis in (0, 1))
    spacing = (row_mm, col_mm) if row_mm > 0 and col_mm > 0 else None
    return RawFrame(np.array(pixels, dtype=np.uint8, copy=True), device_timestamp=message.timestamp,
                    spacing_mm=spacing, info={"device": message.device_name})


class IgtlSource(FrameSource):
    """IMAGE messages from an OpenIGTLink server (PlusServer, Slicer), as frames.

    Args:
        host: Server address.
        port: Server port (PLUS default 18944).
        device: Only images of this device name (``None``: any IMAGE).
        connect_timeout: Seconds to wait for the TCP connection.
        max_message_mb: Largest message accepted, in MiB; a header announcing more drops the
            connection before any of its body is buffered.

    :attr:`connection` may be shared with an :class:`~edge_sdk.igtl_output.IgtlOutput` so that
    results go back over the same link (pyigtl's server serves one client at a time).
    """

    kind = "igtl"
    default_region = "auto"
    live = True
    reconnectable = True
    PARAMS = {"device": "only IMAGE messages of this device name (default: any)",
              "timeout": "seconds to wait for the connection (default 2)",
              "max_mb": f"largest message accepted, MiB (default {DEFAULT_MAX_MESSAGE_MB})"}

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, device: str | None = None,
                 connect_timeout: float = 2.0,
                 max_message_mb: float = DEFAULT_MAX_MESSAGE_MB) -> None:
        super().__init__()
        if not (isinstance(max_message_mb, (int, float)) and 0 < max_message_mb <= 4096):
            raise SourceError(f"igtl: max_message_mb is {max_message_mb!r}; expected a number in "
                              f"(0, 4096]. Fix: omit it for the default {DEFAULT_MAX_MESSAGE_MB}")
        self.device = device
        self.connection = IgtlConnection(host, port, connect_timeout,
                                         max_message_bytes=int(max_message_mb * (1 << 20)))
        self.skipped_messages = 0

    @property
    def malformed_messages(self) -> int:
        """Messages refused as malformed (each also raised as a counted source error)."""
        return self.connection.malformed_messages

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> IgtlSource:
        check_params(cls.kind, params, cls.PARAMS)
        if not target.strip():  # no silent 127.0.0.1: the scanner's address must be chosen
            raise SourceError(f"igtl: the URI names no server; expected igtl://HOST[:PORT], e.g. "
                              f"igtl://127.0.0.1:{DEFAULT_PORT}?device=Image. Fix: add the "
                              "address of the PlusServer or Slicer")
        host, port = parse_host_port(target)
        timeout = parse_number(cls.kind, "timeout", params["timeout"], 0.01) \
            if "timeout" in params else 2.0
        max_mb = parse_number(cls.kind, "max_mb", params["max_mb"], 0.001) \
            if "max_mb" in params else DEFAULT_MAX_MESSAGE_MB
        return cls(host, port, device=params.get("device") or None, connect_timeout=timeout,
                   max_message_mb=max_mb)

    def describe(self) -> str:
        device = f", device {self.device}" if self.device else ""
        return f"igtl source {self.connection.host}:{self.connection.port}{device}"

    def _open(self) -> None:
        _pyigtl()
        self.connection.connect()

    def _read(self, timeout: float | None) -> RawFrame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = self.connection.receive(remaining)
            if message is None:
                return None
            if message.message_type == "IMAGE" and (self.device is None
                                                    or message.device_name == self.device):
                return image_to_frame(message)
            self.skipped_messages += 1  # transforms, strings, other devices: not frames
            if deadline is not None and time.monotonic() >= deadline:
                return None  # a flood of other messages must not hold the runtime forever

    def _close(self) -> None:
        self.connection.close()
