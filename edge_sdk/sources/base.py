"""The frame-source contract: public lifecycle and checks here, small private hooks in subclasses.

Modelled on the backend runners (:mod:`edge_sdk.backends.base`): ``open()`` / ``read()`` /
``close()``, ``with`` and iteration live once in :class:`FrameSource` and do the shared work
(state checks, pixel checks, sequence numbers, host timestamps, pacing, counters). A source kind
implements only ``_open``, ``_read`` and ``_close``.

Buffer ownership: a :class:`Frame`'s pixels belong to the caller. Sources never reuse an array
they have handed out, so a frame may be kept, queued or drawn on without copying.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from edge_sdk.errors import SourceError


class EndOfStream(Exception):
    """Raised by :meth:`FrameSource.read` when a finite source has no more frames (not an error)."""


class SourceTimeout(SourceError):
    """No frame arrived within the ``timeout`` given to :meth:`FrameSource.read`."""


@dataclass(frozen=True)
class RawFrame:
    """What a source's ``_read`` hook returns: pixels plus what only the device knows."""

    pixels: np.ndarray
    device_timestamp: float | None = None
    spacing_mm: tuple[float, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    index: int | None = None
    """The device's own sequence number (gaps show frames it dropped); default: count read."""


@dataclass(frozen=True)
class Frame:
    """One frame from a source.

    Attributes:
        pixels: uint8 H×W (grayscale) or H×W×3 (BGR). Owned by the receiver (see module doc).
        index: Sequence number given by the source, from 0, counting every frame it delivered.
        host_timestamp: ``time.monotonic()`` when the frame was grabbed.
        device_timestamp: The device's own timestamp in seconds, when it has one.
        spacing_mm: Physical pixel size (row, column) in millimetres, when the source knows it.
        info: Source-specific extras (e.g. the simulator's ground truth, the DICOM region).
    """

    pixels: np.ndarray
    index: int
    host_timestamp: float
    device_timestamp: float | None = None
    spacing_mm: tuple[float, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray):
            raise SourceError(f"Frame.pixels is a {type(pixels).__name__}; expected a numpy array")
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] != 3
        ):
            raise SourceError(f"Frame.pixels has shape {pixels.shape} and dtype {pixels.dtype}; "
                              "expected uint8 HxW (grayscale) or HxWx3 (BGR)")
        if self.index < 0:
            raise SourceError(f"Frame.index is {self.index}; expected >= 0")
        if self.spacing_mm is not None and (
            len(self.spacing_mm) != 2 or not all(np.isfinite(s) and s > 0 for s in self.spacing_mm)
        ):
            raise SourceError(f"Frame.spacing_mm is {self.spacing_mm}; expected two finite "
                              "values > 0 (row, column) in mm, or None")


class FrameSource:
    """Base class of every frame source.

    Use a source with ``with`` (or ``open()``/``close()``) and iterate over it, or call
    :meth:`read` with a timeout. Subclasses set :attr:`kind` and :attr:`live` and implement the
    hooks ``_open``, ``_read(timeout)`` and ``_close``.

    Args:
        fps: Pace delivery to this rate (frames per second); ``None`` or 0 delivers as fast as
            the device or file gives them. Live sources are paced by their device instead.

    Example:
        >>> from edge_sdk.sources import source_from_uri
        >>> with source_from_uri("synthetic://?size=320x240&fps=0") as source:
        ...     frame = source.read()
        >>> frame.index, frame.pixels.shape
        (0, (240, 320))
    """

    kind: ClassVar[str] = "base"
    live: bool = False
    """Live sources default to the ``latest`` hand-off policy (files to ``block``)."""
    reconnectable: bool = False
    """Whether closing and reopening may bring a lost device back (capture cards, networks)."""
    default_region: str | None = None
    """The imaging-region setting ``edge-sdk run`` uses unless told: ``"auto"`` for screen
    captures, which carry burned-in patient text, ``"source"`` where the file says (DICOM)."""

    def __init__(self, fps: float | None = None) -> None:
        if fps is not None and not (np.isfinite(fps) and fps >= 0):
            raise SourceError(f"{self.kind}: fps is {fps}; expected a number >= 0 (0: unpaced)")
        self.fps = fps or None
        self.is_open = False
        self.frames_read = 0
        self.dropped_at_source = 0
        """Frames the device produced but this source never delivered (counted, never hidden)."""
        self._next_due: float | None = None

    # ---- public lifecycle -------------------------------------------------------------------
    def open(self) -> FrameSource:
        """Open the device, file or connection. Opening an open source does nothing."""
        if not self.is_open:
            self._open()
            self.is_open = True
            self._next_due = None
        return self

    def close(self) -> None:
        """Release the device. Safe to call twice; :meth:`open` may be called again after it."""
        if self.is_open:
            self.is_open = False
            self._close()

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if not self.is_open:
            raise SourceError(f"{self.describe()} is not open; use it in a 'with' block or "
                              "call open() first")
        while True:
            try:
                yield self.read()
            except EndOfStream:
                return

    def read(self, timeout: float | None = None) -> Frame:
        """Wait for the next frame and return it.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.

        Raises:
            EndOfStream: a finite source (file, folder, DICOM) has delivered all its frames.
            SourceTimeout: no frame within ``timeout``.
            SourceDisconnected: a live source lost its device (reopen it to reconnect).
            SourceError: the source is not open or delivered something that is not an image.
        """
        if not self.is_open:
            raise SourceError(f"{self.describe()} is not open; call open() or use 'with'")
        self._pace()
        raw = self._read(timeout)
        if raw is None:
            raise SourceTimeout(f"{self.describe()}: no frame within {timeout} s")
        now = time.monotonic()
        index = self.frames_read if raw.index is None else raw.index
        frame = Frame(pixels=raw.pixels, index=index, host_timestamp=now,
                      device_timestamp=raw.device_timestamp, spacing_mm=raw.spacing_mm,
                      info=raw.info)
        self.frames_read += 1
        return frame

    def describe(self) -> str:
        """A short human-readable name of this source, used in messages."""
        return f"{self.kind} source"

    @property
    def nominal_fps(self) -> float | None:
        """The rate the source should deliver at, when known (for pacing and stall detection)."""
        return self.fps

    # ---- hooks ------------------------------------------------------------------------------
    def _open(self) -> None:
        """Acquire the device. Raise :class:`SourceError` with a fix when it cannot be opened."""

    def _read(self, timeout: float | None) -> RawFrame | None:
        """Return the next frame, ``None`` on timeout; raise :class:`EndOfStream` at the end."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the device."""

    # ---- helpers ----------------------------------------------------------------------------
    def _pace(self) -> None:
        """Sleep until the next frame is due at ``fps`` (skipped for live sources)."""
        if self.live or not self.fps:
            return
        now = time.monotonic()
        if self._next_due is None or now - self._next_due > 1.0:
            self._next_due = now  # first frame, or resumed after a long pause: no burst
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += 1.0 / self.fps
