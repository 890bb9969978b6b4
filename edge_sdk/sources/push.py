"""An in-process source that firmware or vendor-SDK callback code feeds with ``push()``."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from edge_sdk.errors import SourceError
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame
from edge_sdk.sources.uri import check_params, parse_number


class PushSource(FrameSource):
    """Frames handed over by another thread, e.g. a vendor SDK's frame callback.

    ``push()`` never blocks the caller: the source keeps the newest ``capacity`` frames and counts
    the older ones it had to discard in :attr:`dropped_at_source`. ``end()`` marks the end of the
    stream. Pushed arrays are not copied: do not write into them after pushing.

    Args:
        capacity: Frames kept until read (default 2).

    Example:
        >>> import numpy as np
        >>> source = PushSource()
        >>> with source:
        ...     source.push(np.zeros((48, 64), np.uint8), timestamp=12.5)
        ...     source.end()
        ...     frames = list(source)
        >>> [(f.index, f.device_timestamp) for f in frames]
        [(0, 12.5)]
    """

    kind = "push"
    default_region = "auto"
    live = True
    PARAMS = {"capacity": "frames kept until read (default 2)"}

    def __init__(self, capacity: int = 2) -> None:
        super().__init__()
        if capacity < 1:
            raise SourceError(f"push: capacity={capacity}; expected >= 1")
        self.capacity = capacity
        self._frames: deque[RawFrame] = deque()
        self._ready = threading.Condition()
        self._ended = False
        self.frames_pushed = 0

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> PushSource:
        check_params(cls.kind, params, cls.PARAMS)
        if "capacity" in params:
            return cls(int(parse_number(cls.kind, "capacity", params["capacity"], 1, True)))
        return cls()

    def push(self, frame: np.ndarray, timestamp: float | None = None,
             spacing_mm: tuple[float, float] | None = None) -> None:
        """Hand over one frame (uint8 H×W or H×W×3) with the device's timestamp in seconds.

        Raises:
            SourceError: the frame is not a uint8 image, or the stream has ended.
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise SourceError(f"push: got {type(frame).__name__} "
                              f"{getattr(frame, 'shape', '')} {getattr(frame, 'dtype', '')}; "
                              "expected a uint8 numpy array HxW or HxWx3")
        with self._ready:
            if self._ended:
                raise SourceError("push: the stream has ended (end() was called); create a new "
                                  "PushSource to start another")
            if len(self._frames) >= self.capacity:
                self._frames.popleft()
                self.dropped_at_source += 1
            self._frames.append(RawFrame(frame, device_timestamp=timestamp, spacing_mm=spacing_mm,
                                         index=self.frames_pushed))
            self.frames_pushed += 1
            self._ready.notify()

    def end(self) -> None:
        """Mark the end of the stream: readers get the frames still held, then the end."""
        with self._ready:
            self._ended = True
            self._ready.notify_all()

    def describe(self) -> str:
        return "push source"

    def _read(self, timeout: float | None) -> RawFrame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._frames:
                if self._ended:
                    raise EndOfStream
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)
            return self._frames.popleft()
