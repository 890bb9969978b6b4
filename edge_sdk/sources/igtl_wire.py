"""OpenIGTLink framing checked before a byte of a message body is kept: the peer is untrusted.

pyigtl's parser is written for a cooperative peer: it trusts the header's ``body_size`` (a client
then buffers whatever that says, 2^62 bytes included), decodes names without catching errors, and
signals a malformed message with whatever the failing call raises (``UnicodeDecodeError``,
``struct.error``, ``KeyError``, ``NotImplementedError``, ``ValueError``). So the 58-byte header
and, for IMAGE, the 72-byte image header are parsed and validated here; only a body that has
passed is handed to pyigtl to decode, and anything it still raises becomes
:class:`IgtlMessageError`. The header's CRC-64 is not verified (TCP checksums every segment, and
a pure-Python CRC-64 would cost more than the frame's inference); PLUS and pyigtl skip it too.

Two kinds of error:

- :class:`IgtlProtocolError` (a :class:`~edge_sdk.errors.PeerProtocolError`): the framing is
  lost (not an OpenIGTLink header, a body over the size limit). The connection is dropped; the
  streaming runtime counts it and reconnects with back-off.
- :class:`IgtlMessageError` (a :class:`~edge_sdk.errors.SourceError`): one message is malformed
  but its length was sound, so it is skipped and counted and the stream goes on.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import PeerProtocolError, SourceError

HEADER_SIZE = 58
_HEADER = struct.Struct(">H12s20sIIQQ")  # version, type, device, seconds, fraction, size, crc
IMAGE_HEADER_SIZE = 72
_IMAGE = struct.Struct(">HBBBBHHH12fHHHHHH")
_EXTENDED = struct.Struct(">HHII")  # extended header size, metadata header/body size, msg id
SCALAR_TYPES = {2: np.int8, 3: np.uint8, 4: np.int16, 5: np.uint16, 6: np.int32, 7: np.uint32,
                10: np.float32, 11: np.float64}
_TYPE_NAME = re.compile(r"[A-Za-z0-9_]{1,12}")

DEFAULT_MAX_MESSAGE_MB = 64
"""Largest message body accepted by default: a 4096 x 4096 RGBA image (64 MiB). A peer cannot
make the client hold more than this (plus one 1 MiB read) at a time."""


class IgtlProtocolError(PeerProtocolError):
    """The peer's bytes are not OpenIGTLink (or a message is over the limit): link dropped."""


class IgtlMessageError(SourceError):
    """One OpenIGTLink message is malformed; it was skipped and the stream goes on."""


@dataclass(frozen=True)
class Header:
    """A validated OpenIGTLink header."""

    version: int
    message_type: str
    device_name: str | None
    """``None`` when the name is not UTF-8 (the message is then refused once its body is read)."""
    timestamp: float
    body_size: int

    def fields(self) -> dict[str, object]:
        """The header as pyigtl's ``MessageBase.unpack`` takes it."""
        return {"header_version": self.version, "message_type": self.message_type,
                "device_name": self.device_name or "", "timestamp": self.timestamp,
                "body_size": self.body_size}


def parse_header(raw: bytes, max_body: int, peer: str = "peer") -> Header:
    """Validate a 58-byte header before any of its body is buffered.

    Raises:
        IgtlProtocolError: not an OpenIGTLink header, or a body larger than ``max_body``.

    Example:
        >>> raw = struct.pack(">H12s20sIIQQ", 1, b"IMAGE", b"Image", 5, 0, 100, 0)
        >>> parse_header(raw, 1 << 20)
        Header(version=1, message_type='IMAGE', device_name='Image', timestamp=5.0, body_size=100)
    """
    version, kind, name, seconds, fraction, size, _crc = _HEADER.unpack(raw[:HEADER_SIZE])
    kind_text = kind.rstrip(b" \t\r\n\0").decode("ascii", "replace")
    if version not in (1, 2, 3) or _TYPE_NAME.fullmatch(kind_text) is None:
        raise IgtlProtocolError(
            f"igtl: {peer} sent bytes that are not an OpenIGTLink header (version {version}, "
            f"type {kind!r}); expected version 1-3 and a message type such as b'IMAGE'. Fix: "
            "check that the address is a PlusServer or Slicer OpenIGTLink server")
    if size > max_body:
        raise IgtlProtocolError(
            f"igtl: {peer} announced a {kind_text} message of {size} bytes; the limit is "
            f"{max_body} bytes. Fix: if its images really are that large, raise the limit "
            "(igtl://HOST:PORT?max_mb=N); otherwise the server is broken or hostile")
    try:
        device: str | None = name.rstrip(b" \t\r\n\0").decode("utf-8")
    except UnicodeDecodeError:
        device = None
    return Header(version=version, message_type=kind_text, device_name=device,
                  timestamp=seconds + fraction / 2.0**32, body_size=size)


def _content(header: Header, body: bytes, peer: str) -> bytes:
    """The message content: the body without a version-2 extended header and metadata."""
    if header.version < 2:
        return body
    if len(body) < _EXTENDED.size:
        raise IgtlMessageError(f"igtl: {peer} sent a version-{header.version} message of "
                               f"{len(body)} bytes, shorter than its extended header. Fix: "
                               "update the server's OpenIGTLink library")
    ext_size, meta_header, meta_body, _ = _EXTENDED.unpack(body[:_EXTENDED.size])
    end = len(body) - meta_header - meta_body
    if ext_size < _EXTENDED.size or end < ext_size:
        raise IgtlMessageError(f"igtl: {peer} sent an extended header of {ext_size} bytes with "
                               f"{meta_header + meta_body} bytes of metadata in a body of "
                               f"{len(body)}; they do not fit. Fix: update the server")
    return body[ext_size:end]


def check_image(header: Header, body: bytes, peer: str = "peer") -> tuple[int, int, int, int]:
    """Validate an IMAGE body (sizes, pixel type, length) before anything decodes it.

    Returns:
        ``(slices, rows, columns, components)``.

    Raises:
        IgtlMessageError: what is wrong with the image, what was expected, the fix.
    """
    content = _content(header, body, peer)
    what = f"igtl: {peer} sent an IMAGE ({header.device_name!r})"
    fix = "Fix: configure the server (PLUS) to send 2D 8-bit B-mode images"
    if len(content) < IMAGE_HEADER_SIZE:
        raise IgtlMessageError(f"{what} of {len(content)} bytes, shorter than the "
                               f"{IMAGE_HEADER_SIZE}-byte image header. {fix}")
    values = _IMAGE.unpack(content[:IMAGE_HEADER_SIZE])
    components, scalar, endian = values[1], values[2], values[3]
    size = values[5:8]  # i (columns), j (rows), k (slices)
    matrix = values[8:20]
    offset, sub = values[20:23], values[23:26]
    if scalar not in SCALAR_TYPES or endian not in (1, 2) or not 1 <= components <= 4:
        raise IgtlMessageError(f"{what} with scalar type {scalar}, endianness {endian}, "
                               f"{components} components; expected a type in "
                               f"{sorted(SCALAR_TYPES)}, endianness 1 or 2, 1-4 components. {fix}")
    if min(size) < 1:
        raise IgtlMessageError(f"{what} of {size[0]}x{size[1]}x{size[2]} pixels; expected at "
                               f"least 1 in each dimension. {fix}")
    if any(offset) or tuple(sub) != tuple(size):
        raise IgtlMessageError(f"{what} holding a sub-volume (offset {offset}, size {sub} of "
                               f"{size}); expected the whole image. {fix}")
    if not all(math.isfinite(v) for v in matrix):
        raise IgtlMessageError(f"{what} whose position matrix holds NaN or infinity; expected "
                               f"finite spacing and origin. {fix}")
    itemsize = np.dtype(SCALAR_TYPES[scalar]).itemsize
    needed = size[0] * size[1] * size[2] * components * itemsize
    if len(content) - IMAGE_HEADER_SIZE != needed:
        raise IgtlMessageError(f"{what} whose header says {size[0]}x{size[1]}x{size[2]} x "
                               f"{components} x {itemsize} bytes = {needed} bytes of pixels, but "
                               f"{len(content) - IMAGE_HEADER_SIZE} bytes followed. {fix}")
    return size[2], size[1], size[0], components
