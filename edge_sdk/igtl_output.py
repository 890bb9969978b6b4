"""Send results back over OpenIGTLink, so that 3D Slicer and PLUS users see them live.

Per result: an IMAGE message with the label map (0 background, 1 benign lesion, 2 malignant
lesion; with the frame's pixel spacing and timestamp) and a STRING message with the scores as
JSON. Device names are ``<prefix>Label`` and ``<prefix>Result`` (default prefix ``EdgeSDK``).
"""

from __future__ import annotations

import json
import logging
import random
import time
from types import TracebackType
from typing import Any

import numpy as np

from edge_sdk.errors import ConfigError, SourceDisconnected
from edge_sdk.results import FrameResult
from edge_sdk.sources.igtl import DEFAULT_PORT, IgtlConnection, _pyigtl, parse_host_port

logger = logging.getLogger(__name__)

BENIGN_LABEL, MALIGNANT_LABEL = 1, 2


def label_map(result: FrameResult, positive_class: str = "malignant") -> np.ndarray:
    """H×W uint8: 0 background, 1 benign lesion pixels, 2 malignant lesion pixels.

    Example:
        >>> import numpy as np
        >>> from edge_sdk.results import FrameResult, Lesion, StageLatency
        >>> mask = np.zeros((40, 40), np.uint8); mask[10:20, 10:20] = 1
        >>> lesion = Lesion((10, 10, 20, 20), (5, 5, 25, 25), 100, 0.9, 0.8, "malignant")
        >>> result = FrameResult(0, 0.0, mask, [lesion], StageLatency())
        >>> int(label_map(result).max()), int((label_map(result) == 2).sum())
        (2, 100)
    """
    labels = np.zeros_like(result.mask)
    for lesion in result.lesions:
        x0, y0, x1, y1 = lesion.bbox
        value = MALIGNANT_LABEL if lesion.label == positive_class else BENIGN_LABEL
        window = labels[y0:y1, x0:x1]
        window[result.mask[y0:y1, x0:x1] > 0] = value
    return labels


class IgtlOutput:
    """Sends each result to an OpenIGTLink peer; never raises on a lost link, counts instead.

    Args:
        address: ``HOST:PORT`` of a server to connect to (e.g. Slicer's OpenIGTLinkIF), or
            ``None`` with ``connection``.
        connection: An existing connection to share (e.g. ``IgtlSource.connection``, so that
            results return to PlusServer over the link the frames came on).
        device_prefix: Prefix of the device names.
        positive_class: Class name drawn as label 2.
        retry_s: First wait before reconnecting an own connection; it doubles (with jitter) on
            every failed attempt up to ``max_retry_s`` and falls back after a result is sent.
        max_retry_s: Longest wait between reconnection attempts.
    """

    def __init__(self, address: str | None = None, connection: IgtlConnection | None = None,
                 device_prefix: str = "EdgeSDK", positive_class: str = "malignant",
                 retry_s: float = 1.0, max_retry_s: float = 30.0) -> None:
        if (address is None) == (connection is None):
            raise ConfigError("IgtlOutput: both or neither of address and connection were "
                              "given; expected exactly one. Fix: pass address='HOST:PORT' or "
                              "connection=source.connection")
        if not 0 <= retry_s <= max_retry_s:
            raise ConfigError(f"IgtlOutput: retry_s={retry_s}, max_retry_s={max_retry_s}; "
                              "expected 0 <= retry_s <= max_retry_s. Fix: e.g. 1.0 and 30.0")
        self.shared = connection is not None
        if connection is None:
            host, port = parse_host_port(address or f"127.0.0.1:{DEFAULT_PORT}", "--igtl-out")
            connection = IgtlConnection(host, port, connect_timeout=0.5)
        self.connection = connection
        self.prefix, self.positive_class, self.retry_s = device_prefix, positive_class, retry_s
        self.max_retry_s = max_retry_s
        self.sent = 0
        self.failed = 0
        self.reconnects = 0
        self._last_try = float("-inf")
        self._wait = 0.0  # until the next reconnection attempt; grows while attempts fail
        self._delay = retry_s

    def open(self) -> IgtlOutput:
        """Connect an own connection now (a shared one is the source's business)."""
        _pyigtl()
        if not self.shared:
            self._last_try = time.monotonic()
            self.connection.connect()
        return self

    def close(self) -> None:
        if not self.shared:
            self.connection.close()

    def __enter__(self) -> IgtlOutput:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def messages(self, result: FrameResult) -> list[Any]:
        """The IMAGE (label map) and STRING (scores) messages of one result."""
        pyigtl = _pyigtl()
        stamp = result.device_timestamp if result.device_timestamp is not None else time.time()
        row_mm, col_mm = result.spacing_mm or (1.0, 1.0)
        matrix = np.diag([col_mm, row_mm, 1.0, 1.0])
        image = pyigtl.ImageMessage(label_map(result, self.positive_class)[None],
                                    ijk_to_world_matrix=matrix, timestamp=stamp,
                                    device_name=f"{self.prefix}Label")
        scores = {"frame_index": result.frame_index, "malignancy": round(result.malignancy, 6),
                  "lesions": [lesion.to_dict() for lesion in result.lesions],
                  "color_overlay": result.color_overlay}
        text = pyigtl.StringMessage(json.dumps(scores), timestamp=stamp,
                                    device_name=f"{self.prefix}Result")
        return [image, text]

    def send(self, result: FrameResult) -> bool:
        """Send one result; False (and counted in :attr:`failed`) when the link is down."""
        if not self.connection.connected and not self.shared:
            now = time.monotonic()
            if now - self._last_try < self._wait:
                self.failed += 1
                return False
            self._last_try = now
            try:
                self.connection.connect()
                self.reconnects += 1
            except SourceDisconnected as exc:
                self._back_off()
                logger.warning("igtl output: %s; next try in %.1f s", exc, self._wait)
                self.failed += 1
                return False
        try:
            for message in self.messages(result):
                self.connection.send(message)
        except SourceDisconnected as exc:
            self._back_off()
            logger.warning("igtl output: %s", exc)
            self.failed += 1
            return False
        self._wait, self._delay = 0.0, self.retry_s  # the link works: retry promptly next time
        self.sent += 1
        return True

    def _back_off(self) -> None:
        """Exponential back-off with jitter and a cap: a peer that accepts and then drops the
        link, or refuses it, is retried ever more slowly instead of every frame."""
        self._wait = self._delay * random.uniform(0.5, 1.0)
        self._delay = min(2 * self._delay, self.max_retry_s)
