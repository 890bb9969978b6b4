"""The streaming runtime: a capture thread per source, pipelined stages, hand-off policies.

One frame's path::

    source ─► capture thread ─► hand-off (policy) ─► segment thread ─► classify thread ─► you
              grabs, stamps      latest/queue/block   crop to imaging     crop lesions,
              reconnects         (the only place a    area, segment       classify, smooth
                                  frame may be dropped,
                                  always counted)

Capture, segmentation and classification overlap, so a slow stage delays results but never the
grab. The two inner queues are lossless: under ``latest`` the newest frame always wins at the
hand-off, under ``block`` nothing is ever dropped and the source waits.

Accounting (see :class:`StreamStats`): every captured frame ends as exactly one of processed,
failed, dropped in the runtime, or discarded at stop. Frames a device produced but never
delivered are counted by the source (``dropped_at_source``), reads that failed (an unreadable
file, a lost connection) as ``source_errors``.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk.errors import (
    ConfigError,
    EdgeSDKError,
    PeerProtocolError,
    SourceDisconnected,
    SourceError,
)
from edge_sdk.imaging_region import ImagingRegion, RegionSelector, has_color_overlay
from edge_sdk.sources.base import EndOfStream, Frame, FrameSource, SourceTimeout
from edge_sdk.streaming.handoff import END, POLL_S, Handoff, HandoffPolicy
from edge_sdk.streaming.stats import AccountingError, StreamResult, StreamStats, check_accounting

if TYPE_CHECKING:
    from edge_sdk.pipeline import Pipeline

logger = logging.getLogger(__name__)

_MAX_SOURCE_ERRORS = 100  # a source failing this often in a row is broken, not unlucky
_MAX_UNEXPECTED = 10  # frames failing in a row with a non-SDK error: a bug, not a bad frame


class StreamRunner:
    """Runs a :class:`~edge_sdk.pipeline.Pipeline` over a live or recorded source.

    Iterate over the runner (inside ``with``) to get :class:`StreamResult` objects as they are
    ready. Leaving the ``with`` block (also on Ctrl-C) stops every thread within a second.

    Args:
        pipeline: The pipeline; its two halves run in two threads (see ``Pipeline.segment``).
        source: A source, opened by the runner if it is not open yet, closed at the end.
        policy: ``latest``, ``queue(N)`` or ``block``; default: ``latest`` for live sources,
            ``block`` for files, folders and DICOM.
        region: Imaging-region setting: ``None`` (whole frame), ``"auto"``, ``"source"``, a
            box ``"x0,y0,x1,y1"`` or an :class:`~edge_sdk.imaging_region.ImagingRegion`.
        smoother: Optional temporal smoother with ``update(result) -> result``.
        max_frames: Stop after capturing this many frames.
        stall_timeout: Seconds without a frame after which the source is reported stalled (and
            a reconnectable live source is reconnected).
        reconnect: Reconnect a live source that dropped; default: the source's ``reconnectable``.
        backoff: First and longest wait between reconnection attempts, in seconds (doubling,
            with jitter; the wait only falls back to the first once a frame has arrived).
        stage_hook: Called with each segmented frame in the segment thread (for tests and
            profiling: e.g. to simulate a slow stage).

    Example:
        >>> import tempfile
        >>> from edge_sdk.pipeline import Pipeline
        >>> from edge_sdk.sources import source_from_uri
        >>> from edge_sdk.testing import make_tiny_bundle
        >>> pipeline = Pipeline(make_tiny_bundle(tempfile.mkdtemp()))
        >>> source = source_from_uri("synthetic://?fps=0&size=320x240&frames=5")
        >>> with StreamRunner(pipeline, source, region="auto") as runner:
        ...     results = list(runner)
        >>> len(results), runner.stats.processed, runner.stats.dropped
        (5, 5, 0)
    """

    def __init__(
        self,
        pipeline: Pipeline,
        source: FrameSource,
        policy: str | HandoffPolicy | None = None,
        region: str | ImagingRegion | None = None,
        smoother: Any = None,
        max_frames: int | None = None,
        stall_timeout: float = 2.0,
        reconnect: bool | None = None,
        backoff: tuple[float, float] = (0.1, 2.0),
        stage_hook: Callable[[Any], None] | None = None,
    ) -> None:
        if policy is None:
            policy = "latest" if source.live else "block"
        self.policy = policy if isinstance(policy, HandoffPolicy) else HandoffPolicy.parse(policy)
        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"max_frames={max_frames}; expected >= 1 or None")
        if stall_timeout <= 0 or backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise ConfigError(f"stall_timeout={stall_timeout}, backoff={backoff}: expected "
                              "stall_timeout > 0 and 0 < first <= longest backoff")
        self.pipeline, self.source = pipeline, source
        self.regions = RegionSelector(region)
        self.smoother = smoother
        self.max_frames = max_frames
        self.stall_timeout = stall_timeout
        self.reconnect = source.reconnectable if reconnect is None else reconnect
        self.backoff = backoff
        self.stage_hook = stage_hook
        self.stats = StreamStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._handoff = Handoff(self.policy)
        self._mid: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._out: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._threads: list[threading.Thread] = []
        self._capture_thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._last_frame = time.monotonic()
        self._source_drops_before = 0
        self._unexpected_in_row = 0
        self._delay = backoff[0]  # grows across reconnects until a frame arrives

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> StreamRunner:
        """Open the source (if needed) and start the threads. A runner runs once: after it
        stopped, starting it again does nothing (its stats stay readable)."""
        if self._threads or self._stop.is_set():
            return self
        self.source.open()
        self._source_drops_before = self.source.dropped_at_source
        self.stats = StreamStats()
        self._last_frame = time.monotonic()
        for name, target in (("capture", self._capture_loop), ("segment", self._segment_loop),
                             ("classify", self._classify_loop), ("watchdog", self._watchdog)):
            thread = threading.Thread(target=target, name=f"edge-sdk-{name}", daemon=True)
            self._threads.append(thread)
        self._capture_thread = self._threads[0]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop all threads (within ``timeout`` seconds) and close the source."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        with self._lock:
            self.stats.discarded_at_stop += self._handoff.drain()
            while True:
                try:
                    item = self._mid.get_nowait()
                except queue.Empty:
                    break
                self.stats.discarded_at_stop += item is not END
            while True:
                try:
                    item = self._out.get_nowait()
                except queue.Empty:
                    break
                self.stats.discarded_at_stop += item is not END
        if alive:  # a device read that ignores its timeout: do not close under its feet
            logger.warning("streaming: threads %s did not stop within %.1f s", alive, timeout)
        else:
            self.source.close()
            try:  # every frame ended somewhere: checked at the end of every run
                check_accounting(self.stats)
            except AccountingError as exc:
                logger.error("%s", exc)
                if self._error is None:
                    self._error = exc
        self._threads = []

    def __enter__(self) -> StreamRunner:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __iter__(self) -> Iterator[StreamResult]:
        self.start()
        while True:
            try:
                item = self._out.get(timeout=POLL_S)
            except queue.Empty:
                if self._stop.is_set() and not any(t.is_alive() for t in self._threads[1:3]):
                    break
                continue
            if item is END:
                self.stop()  # the stream ended: release the source even outside a 'with'
                break
            with self._lock:
                self.stats.processed += 1
            yield item
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # ---- threads ----------------------------------------------------------------------------
    def _fail(self, where: str, exc: BaseException, count: str = "failed") -> None:
        with self._lock:
            setattr(self.stats, count, getattr(self.stats, count) + 1)
            self.stats.errors.append(f"{where}: {exc}")
        logger.warning("streaming: %s failed: %s", where, exc)

    def _unexpected(self, frame: Frame, exc: Exception) -> None:
        """A frame failed with an error that is not the SDK's own (an OpenCV or backend error):
        counted as failed like any bad frame; many in a row stop the stream and re-raise."""
        logger.error("streaming: frame %d failed unexpectedly", frame.index, exc_info=exc)
        self._fail(f"frame {frame.index}", EdgeSDKError(f"unexpected {type(exc).__name__}: {exc}"))
        with self._lock:
            self._unexpected_in_row += 1
            if self._unexpected_in_row >= _MAX_UNEXPECTED:
                self._crash(exc)

    def _crash(self, exc: BaseException) -> None:
        """An unexpected error: stop everything and re-raise it in the consumer."""
        if self._error is None:
            self._error = exc
        self._stop.set()

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _capture_loop(self) -> None:
        consecutive_errors = 0
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and self.stats.captured >= self.max_frames:
                    break
                try:
                    frame = self.source.read(timeout=0.1)
                except SourceTimeout:
                    if (self.reconnect and self.source.live
                            and time.monotonic() - self._last_frame > 2 * self.stall_timeout):
                        self._reconnect(SourceDisconnected(f"{self.source.describe()}: no frame "
                                                           f"for {2 * self.stall_timeout:g} s"))
                    continue
                except EndOfStream:
                    break
                except SourceDisconnected as exc:
                    if not self.reconnect or isinstance(exc, PeerProtocolError):
                        self._fail("source", exc, "source_errors")  # malformed input: counted
                    if not self.reconnect:
                        break
                    self._reconnect(exc)
                    continue
                except SourceError as exc:
                    self._fail("source", exc, "source_errors")
                    consecutive_errors += 1
                    if consecutive_errors >= _MAX_SOURCE_ERRORS:
                        logger.error("streaming: %s failed %d times in a row; giving up",
                                     self.source.describe(), consecutive_errors)
                        break
                    continue
                consecutive_errors = 0
                self._delay = self.backoff[0]  # a frame came: the link is good again
                self._last_frame = time.monotonic()
                with self._lock:
                    self.stats.stalled = False
                    self.stats.captured += 1
                    self.stats.dropped_at_source = (self.source.dropped_at_source
                                                    - self._source_drops_before)
                if not self._handoff.put(frame, self._stop):
                    with self._lock:
                        self.stats.discarded_at_stop += 1
                    break
                with self._lock:
                    self.stats.dropped_in_runtime = self._handoff.dropped
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._crash(exc)
        finally:
            with self._lock:
                self.stats.dropped_at_source = (self.source.dropped_at_source
                                                - self._source_drops_before)
            self._handoff.put(END, self._stop)

    def _reconnect(self, reason: Exception) -> None:
        """Close and reopen a live source, backing off between attempts, until stopped."""
        logger.warning("streaming: %s; reconnecting", reason)
        while not self._stop.is_set():
            self.source.close()
            # exponential back-off with jitter, kept across reconnects: a server that accepts
            # and then sends garbage (or closes) is retried ever more slowly, up to the cap
            delay = self._delay * random.uniform(0.5, 1.0)
            self._delay = min(2 * self._delay, self.backoff[1])
            if self._stop.wait(delay):
                return
            try:
                self.source.open()
            except SourceError as exc:
                logger.info("streaming: reconnect failed (%s); next try within %.2f s", exc,
                            self._delay)
                continue
            with self._lock:
                self.stats.reconnects += 1
            self._last_frame = time.monotonic()
            logger.warning("streaming: reconnected to %s", self.source.describe())
            return

    def _watchdog(self) -> None:
        while not self._stop.wait(POLL_S):
            silent = time.monotonic() - self._last_frame
            with self._lock:
                if silent > self.stall_timeout and not self.stats.stalled:
                    self.stats.stalled = True
                    self.stats.stalls += 1
                    logger.warning("streaming: %s stalled: no frame for %.1f s",
                                   self.source.describe(), silent)
                elif silent <= self.stall_timeout and self.stats.stalled:
                    self.stats.stalled = False
            if self._capture_thread is not None and not self._capture_thread.is_alive():
                return

    def _segment_loop(self) -> None:
        try:
            while True:
                frame = self._handoff.get(POLL_S)
                if frame is None:
                    if self._stop.is_set():
                        return
                    continue
                if frame is END:
                    self._put(self._mid, END)
                    return
                try:
                    item = self._segment(frame)
                except EdgeSDKError as exc:
                    self._fail(f"frame {frame.index}", exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - counted; re-raised if it persists
                    self._unexpected(frame, exc)
                    continue
                if not self._put(self._mid, item):
                    with self._lock:
                        self.stats.discarded_at_stop += 1
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._crash(exc)

    def _segment(self, frame: Frame) -> tuple[Frame, np.ndarray, Any, ImagingRegion | None, bool]:
        region = self.regions.region_for(frame.pixels, frame.info)
        image = region.apply(frame.pixels) if region is not None else frame.pixels
        colour = has_color_overlay(image, region.mask if region is not None else None)
        segmented = self.pipeline.segment(image, frame_index=frame.index,
                                          timestamp=frame.host_timestamp,
                                          device_timestamp=frame.device_timestamp)
        if self.stage_hook is not None:
            self.stage_hook(segmented)
        return frame, image, segmented, region, colour

    def _classify_loop(self) -> None:
        last_box: Any = None
        try:
            while True:
                try:
                    item = self._mid.get(timeout=POLL_S)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is END:
                    self._put(self._out, END)
                    return
                frame, image, segmented, region, colour = item
                box = region.box if region is not None else image.shape
                if box != last_box and hasattr(self.smoother, "reset"):
                    self.smoother.reset()  # a new frame size or crop: old tracks mean nothing
                last_box = box
                try:
                    result = self.pipeline.classify(segmented).replace(
                        spacing_mm=frame.spacing_mm, color_overlay=colour,
                        imaging_region=region.box if region is not None else None)
                    if self.smoother is not None:
                        result = self.smoother.update(result)
                except EdgeSDKError as exc:
                    self._fail(f"frame {frame.index}", exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - counted; re-raised if it persists
                    self._unexpected(frame, exc)
                    continue
                self._unexpected_in_row = 0
                now = time.monotonic()
                latency = (now - frame.host_timestamp) * 1000.0
                with self._lock:
                    stats = self.stats
                    stats.latencies_ms.append(latency)
                    stats.first_result = stats.first_result or now
                    stats.last_result = now
                out = StreamResult(image=image, result=result, frame_index=frame.index,
                                   info=frame.info, latency_ms=latency)
                if not self._put(self._out, out):
                    with self._lock:
                        self.stats.discarded_at_stop += 1
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self._crash(exc)
