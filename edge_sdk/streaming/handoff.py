"""Hand-off policies: how frames pass from the capture thread to processing.

The hand-off is the runtime's only drop point: ``latest`` and ``queue(N)`` drop the oldest frame
when full (counted), ``block`` never drops and makes the capture wait instead.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from edge_sdk.errors import ConfigError

POLICIES = ("latest", "queue(N)", "block")
END = object()
"""End-of-stream marker passed down the stages."""
POLL_S = 0.05
"""Every blocking wait wakes this often to notice a stop: shutdown stays well under 1 s."""


@dataclass(frozen=True)
class HandoffPolicy:
    """How frames pass from the capture thread to processing.

    Attributes:
        kind: ``latest`` (keep the newest frame, drop and count older ones), ``queue`` (keep the
            newest ``size``, drop the oldest) or ``block`` (lossless: the capture waits).
        size: Frames held.

    Example:
        >>> HandoffPolicy.parse("queue(4)")
        HandoffPolicy(kind='queue', size=4)
    """

    kind: str
    size: int = 1

    @classmethod
    def parse(cls, text: str) -> HandoffPolicy:
        """Parse ``latest``, ``block`` or ``queue(N)``; the error lists the accepted forms."""
        lowered = text.strip().lower()
        if lowered in ("latest", "block"):
            return cls(lowered, 1 if lowered == "latest" else 2)
        match = re.fullmatch(r"queue[(:]\s*(\d+)\s*\)?", lowered)
        if match and int(match.group(1)) >= 1:
            return cls("queue", int(match.group(1)))
        raise ConfigError(f"hand-off policy {text!r} is not understood; expected one of "
                          f"{list(POLICIES)} with N >= 1, e.g. queue(4)")


class Handoff:
    """The buffer between the capture thread and processing; the runtime's only drop point."""

    def __init__(self, policy: HandoffPolicy) -> None:
        self.policy = policy
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: Any, stop: threading.Event) -> bool:
        """Add an item; under ``block`` wait for room. False if stopped while waiting."""
        with self._cond:
            if self.policy.kind == "block":
                while len(self._items) >= self.policy.size:
                    if stop.is_set():
                        return False
                    self._cond.wait(POLL_S)
            elif len(self._items) >= self.policy.size and item is not END:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The oldest item, or ``None`` after ``timeout``."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def drain(self) -> int:
        """Discard what is held (at stop); return how many frames that was."""
        with self._cond:
            count = sum(1 for item in self._items if item is not END)
            self._items.clear()
            self._cond.notify_all()
            return count
