"""The live viewer: what the run hands it per result, and the thread that encodes frames."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

from edge_sdk.streaming.stats import StreamResult
from edge_sdk.viewer.address import ViewAddress, resolve_token
from edge_sdk.viewer.frames import FrameRenderer, frame_meta, pack_frame
from edge_sdk.viewer.server import ViewerServer
from edge_sdk.viewer.state import LatencyWindow, read_summary

logger = logging.getLogger(__name__)


class LiveViewer:
    """Serves a page that shows a stream live: overlay, lesions, latency and counters.

    The run calls :meth:`publish` once per result, from its own thread. That call only keeps a
    reference to the newest result and appends its latency (microseconds): drawing and JPEG
    encoding happen in the viewer's encoder thread, and only when a browser is ready for a new
    frame, at most ``max_fps`` times a second. Results no browser was ready for are skipped by
    the viewer and counted as such (``viewer.skipped``), apart from the run's own drops.

    Args:
        address: Where to listen (loopback by default).
        token: Access token; default ``$EDGE_SDK_VIEW_TOKEN``, or a random one when the address
            is reachable from other machines.
        info: The run's fixed facts shown in the page header (source, backend, bundle...).
        stats: Returns the run's live counters (a ``StreamStats``) when called.
        positive_class: The bundle's positive class (drawn red).
        max_fps: Most frames a second encoded for the browsers.
        quality: JPEG quality.
        window: Frames in the sliding latency window.

    Example:
        >>> viewer = LiveViewer(ViewAddress(port=0)).start()
        >>> viewer.url.startswith("http://127.0.0.1:")
        True
        >>> viewer.close()
    """

    def __init__(self, address: ViewAddress | None = None, token: str | None = None,
                 info: dict[str, Any] | None = None, stats: Callable[[], Any] | None = None,
                 positive_class: str = "malignant", max_fps: float = 15.0, quality: int = 80,
                 window: int = 300) -> None:
        self.address = address or ViewAddress()
        self.token = resolve_token(self.address, token)
        self.info = dict(info or {})
        self._stats = stats
        self.max_fps = max_fps
        self.latency = LatencyWindow(window)
        self.renderer = FrameRenderer(positive_class, quality)
        self.server = ViewerServer(self.address, self.token, hello=self._hello, state=self.state,
                                   frame=self._newest_frame, request_frame=self._request_frame)
        self._cond = threading.Condition()
        self._item: StreamResult | None = None
        self._published = 0
        self._rendered_upto = 0
        self._requested = False
        self._frame: tuple[int, bytes] | None = None
        self._stop = threading.Event()
        self._encoder: threading.Thread | None = None
        self._summary: dict[str, Any] | None = None
        self.encoded = 0
        self.encode_cpu_s = 0.0
        """CPU time the encoder thread spent drawing and encoding (s)."""
        self.withheld = 0
        """Frames not sent because no imaging area was found in them (see ``frames``)."""

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> LiveViewer:
        self.server.start()
        self._encoder = threading.Thread(target=self._encode_loop, name="edge-sdk-viewer-encode",
                                         daemon=True)
        self._encoder.start()
        return self

    def finish(self, summary: dict[str, Any]) -> None:
        """Show the run's final summary on every page (the stream has ended)."""
        self._summary = dict(summary)
        self.server.broadcast({**self.state(), "type": "end"})

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._encoder is not None:
            self._encoder.join(2.0)
        self.server.stop()

    def __enter__(self) -> LiveViewer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The page's address, with the token when one is required."""
        host = self.address.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()  # a wildcard bind is reached by the machine's name
        if ":" in host:
            host = f"[{host}]"
        query = f"?token={quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.server.port}/{query}"

    # ---- the run's side ---------------------------------------------------------------------
    def publish(self, item: StreamResult) -> None:
        """Hand over one result (called by the run per result; never blocks)."""
        self.latency.add(item.result.latency_ms, item.latency_ms)
        with self._cond:
            self._item = item
            self._published += 1
            if self._requested:
                self._cond.notify()

    __call__ = publish

    @property
    def skipped(self) -> int:
        """Results the viewer did not show: no browser was ready, or newer ones came first."""
        return self._published - self.encoded - self.withheld

    def counters(self) -> dict[str, int | float]:
        return {"published": self._published, "encoded": self.encoded, "withheld": self.withheld,
                "skipped": self.skipped, "browsers": self.server.clients,
                "connections": self.server.connections,
                "cpu_s": round(self.encode_cpu_s + self.server.cpu_s, 3)}

    # ---- the server's side ------------------------------------------------------------------
    def _hello(self) -> dict[str, Any]:
        return {"info": self.info, "max_fps": self.max_fps, "state": self.state()}

    def state(self) -> dict[str, Any]:
        counters = self._summary
        if counters is None and self._stats is not None:
            counters = read_summary(self._stats())
        return {"type": "state", "counters": counters or {}, "ended": self._summary is not None,
                "latency": self.latency.percentiles(), "histograms": self.latency.histograms(),
                "viewer": self.counters(), "time": time.time()}

    def _newest_frame(self) -> tuple[int, bytes] | None:
        return self._frame

    def _request_frame(self) -> None:
        with self._cond:
            self._requested = True
            self._cond.notify()

    def _encode_loop(self) -> None:
        next_at = 0.0
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set() and not (
                        self._requested and self._published > self._rendered_upto):
                    self._cond.wait(0.5)
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            if self._stop.is_set():
                return
            next_at = time.monotonic() + 1.0 / self.max_fps
            with self._cond:
                item, seq = self._item, self._published  # the newest, after the wait
                self._rendered_upto = seq
            if item is None:
                continue
            cpu = time.thread_time()
            try:
                jpeg = self.renderer.render(item)
            except Exception:  # the viewer must never stop the run (logged with its traceback)
                logger.exception("viewer: could not draw frame %d", item.frame_index)
                jpeg = None
            self.encode_cpu_s += time.thread_time() - cpu
            if jpeg is None:
                self.withheld += 1
                continue  # the browser still waits: the next result will be tried
            self._frame = (seq, pack_frame(frame_meta(item), jpeg))
            with self._cond:
                self._requested = False
            self.encoded += 1
            self.server.notify_frame()
