"""A deterministic breast-ultrasound probe simulator that knows its ground truth.

Each frame has a fan (convex probe) or rectangular (linear probe) imaging area filled with
speckle, depth attenuation and a few slowly moving hypoechoic lesions (some with posterior
shadowing), and scanner UI outside it: patient name, ID, date, probe text and a depth scale bar.
That outside text is what the imaging-region crop must keep away from results and recordings.

The simulator is used by the demo, the benchmarks and the tests. Frame ``k`` depends only on
the seed and ``k``; paced at ``fps`` it behaves as a live probe, skipping (and counting) the
frames a slow reader missed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_sdk.errors import SourceError
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame
from edge_sdk.sources.uri import check_params, parse_bool, parse_number, parse_size

PROBES = ("convex", "linear")
MAX_SIDE = 4096
MAX_PIXELS = 3840 * 2160
"""Largest simulated frame: 4K UHD (a scanner's screen is smaller)."""


@dataclass(frozen=True)
class SimLesion:
    """A simulated lesion: an ellipse that drifts sideways over time.

    Attributes:
        cx: Centre x at rest, as a fraction of the imaging box width.
        cy: Centre y at rest, as a fraction of the imaging box height.
        ax: Semi-axis x, fraction of the box width.
        ay: Semi-axis y, fraction of the box height.
        shadow: Whether it casts a posterior acoustic shadow (a malignancy sign).
        drift: Amplitude of the sideways drift, fraction of the box width.
        period_s: Period of the drift in seconds.
    """

    cx: float
    cy: float
    ax: float
    ay: float
    shadow: bool = False
    drift: float = 0.03
    period_s: float = 8.0


DEFAULT_LESIONS = (
    SimLesion(0.38, 0.40, 0.08, 0.07, shadow=True, period_s=8.0),
    SimLesion(0.68, 0.62, 0.06, 0.045, shadow=False, drift=0.025, period_s=11.0),
    SimLesion(0.50, 0.80, 0.05, 0.04, shadow=False, drift=0.02, period_s=6.0),
)


class ProbeSimulator:
    """Renders simulated frames; pure and deterministic (frame ``k`` depends on seed and ``k``).

    Args:
        size: (width, height) of the frame in pixels, each >= 64.
        seed: Seed of the tissue texture and the speckle.
        lesions: How many of :data:`DEFAULT_LESIONS` to show (0 to 3).
        probe: ``"convex"`` (fan) or ``"linear"`` (rectangle).
        color: Return BGR frames instead of grayscale.
        doppler: Draw a colour-flow box inside the imaging area (implies ``color``).
        clock_fps: Frame rate of the simulated scanner (sets the lesions' motion per frame).

    Example:
        >>> sim = ProbeSimulator(size=(320, 240), seed=3)
        >>> pixels, truth = sim.render(0)
        >>> pixels.shape, len(truth["lesions"])
        ((240, 320), 2)
        >>> bool((sim.render(0)[0] == pixels).all())
        True
    """

    def __init__(self, size: tuple[int, int] = (800, 600), seed: int = 0, lesions: int = 2,
                 probe: str = "convex", color: bool = False, doppler: bool = False,
                 clock_fps: float = 30.0) -> None:
        width, height = size
        if min(width, height) < 64:
            raise SourceError(f"synthetic: size {width}x{height} is too small; expected >= 64x64. "
                              "Fix: e.g. size=800x600")
        if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
            # each frame is rendered through a few float32 planes of its size: bound them
            raise SourceError(f"synthetic: size {width}x{height} is too large; expected at most "
                              f"{MAX_SIDE} a side and {MAX_PIXELS} pixels (3840x2160). Fix: "
                              "e.g. size=1920x1080")
        if probe not in PROBES:
            raise SourceError(f"synthetic: probe {probe!r} is unknown; expected one of {PROBES}. "
                              "Fix: e.g. probe=convex")
        if not 0 <= lesions <= len(DEFAULT_LESIONS):
            raise SourceError(f"synthetic: lesions={lesions}; expected 0 to {len(DEFAULT_LESIONS)}. "
                              "Fix: e.g. lesions=2")
        self.size, self.seed, self.probe = (width, height), seed, probe
        self.color, self.doppler = color or doppler, doppler
        self.clock_fps = clock_fps
        self.lesions = DEFAULT_LESIONS[:lesions]
        self._geometry()
        rng = np.random.default_rng(seed)
        texture = np.asarray(cv2.GaussianBlur(
            rng.normal(0.0, 1.0, (height, width)).astype(np.float32), (0, 0), max(2.0, width / 60)),
            np.float32)
        texture /= max(1e-6, float(np.abs(texture).max()))
        self._tissue = (0.95 + 0.12 * texture) * np.exp(-0.35 * self._depth)  # time-gain compensated
        self._tissue[self._depth < 0.03] *= 1.25  # bright skin line
        self._tissue[~self.fan_mask] = 0.0
        self.ui = self._draw_ui()
        """The burned-in UI layer (text, scale bar): uint8, non-zero only outside the imaging area."""

    # ---- geometry -------------------------------------------------------------------------
    def _geometry(self) -> None:
        width, height = self.size
        line = max(10, round(height * 0.045))  # text line height of the UI (see _draw_ui)
        top, bottom = max(round(0.12 * height), 2 * line + 8), round(0.9 * height)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        if self.probe == "linear":
            left, right = round(0.16 * width), round(0.84 * width)
            mask = (xs >= left) & (xs < right) & (ys >= top) & (ys < bottom)
            depth = (ys - top) / max(1, bottom - top)
        else:
            r0 = 0.15 * height
            apex = (width / 2.0, top - r0)
            r1 = r0 + (bottom - top)
            half = math.radians(min(28.0, math.degrees(math.atan(0.42 * width / (bottom - apex[1])))))
            radius = np.hypot(xs - apex[0], ys - apex[1])
            angle = np.arctan2(xs - apex[0], ys - apex[1])
            mask = (radius >= r0) & (radius < r1) & (np.abs(angle) <= half)
            depth = (radius - r0) / (r1 - r0)
        self.fan_mask = mask
        self._depth = np.clip(depth, 0.0, 1.0).astype(np.float32)
        rows, cols = np.nonzero(mask)
        self.region_box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
        """Bounding box (x0, y0, x1, y1) of the imaging area."""

    def _draw_ui(self) -> np.ndarray:
        """The scanner's burned-in text and scale bar: white on black, outside the imaging area."""
        width, height = self.size
        ui = np.zeros((height, width), np.uint8)
        scale = max(0.3, height / 1200)
        line = max(10, round(height * 0.045))  # as in _geometry
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(ui, "DOE^JANE  ID 0012345", (6, line), font, scale, 255, 1, cv2.LINE_AA)
        cv2.putText(ui, "EDGE-SIM L12-5 12MHz", (6, 2 * line), font, scale, 255, 1, cv2.LINE_AA)
        if height >= 200:  # below that the line would touch the imaging area
            cv2.putText(ui, "GAIN 52 DR 60", (6, height - 4), font, scale, 255, 1, cv2.LINE_AA)
        _x0, y0, x1, y1 = self.region_box
        bar_x = min(width - 4, x1 + max(6, (width - x1) // 2))
        cv2.line(ui, (bar_x, y0), (bar_x, y1 - 1), 255, 1)
        for k in range(6):
            y = y0 + round(k * (y1 - 1 - y0) / 5)
            cv2.line(ui, (bar_x - 4, y), (bar_x, y), 255, 1)
        ui[self.fan_mask] = 0
        return ui

    # ---- frames ---------------------------------------------------------------------------
    def lesion_boxes(self, index: int) -> list[dict[str, Any]]:
        """Ground truth of frame ``index``: each lesion's ellipse and box in frame pixels."""
        x0, y0, x1, y1 = self.region_box
        bw, bh = x1 - x0, y1 - y0
        t = index / self.clock_fps
        truth = []
        for lesion in self.lesions:
            cx = x0 + bw * (lesion.cx + lesion.drift * math.sin(2 * math.pi * t / lesion.period_s))
            cy, ax, ay = y0 + bh * lesion.cy, bw * lesion.ax, bh * lesion.ay
            box = (int(cx - ax), int(cy - ay), math.ceil(cx + ax), math.ceil(cy + ay))
            truth.append({"center": (cx, cy), "axes": (ax, ay), "bbox": box,
                          "shadow": lesion.shadow})
        return truth

    def render(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Frame ``index`` and its ground truth (lesions, imaging box, probe)."""
        width, height = self.size
        truth = self.lesion_boxes(index)
        rng = np.random.default_rng((self.seed, index))
        speckle = rng.rayleigh(0.8, (height, width)).astype(np.float32)  # fully developed speckle
        speckle = np.asarray(cv2.GaussianBlur(speckle, (0, 0), 1.0), np.float32)
        echo = np.ones((height, width), np.float32)
        for item in truth:  # each lesion (and its shadow) is drawn in a window around it
            (cx, cy), (ax, ay) = item["center"], item["axes"]
            pad = int(ax) + 4
            x0, x1 = max(0, int(cx - ax) - pad), min(width, int(cx + ax) + pad + 1)
            y0 = max(0, int(cy - ay) - pad)
            y1 = height if item["shadow"] else min(height, int(cy + ay) + pad + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            window = echo[y0:y1, x0:x1]
            if item["shadow"]:  # posterior shadowing: a darker band below the lesion
                shadow = np.zeros_like(window)
                cv2.rectangle(shadow, (round(cx - 0.7 * ax) - x0, round(cy) - y0),
                              (round(cx + 0.7 * ax) - x0, y1 - y0 - 1), 0.3, -1)
                window *= 1.0 - cv2.GaussianBlur(shadow, (0, 0), max(1.0, ax / 4))
            blob = np.zeros_like(window)
            cv2.ellipse(blob, (round(cx) - x0, round(cy) - y0), (round(ax), round(ay)), 0, 0, 360,
                        1.0, -1)
            window *= 1.0 - 0.85 * cv2.GaussianBlur(blob, (0, 0), max(1.0, ax / 10))
        image = np.clip(175.0 * self._tissue * echo * speckle, 0, 255).astype(np.uint8)
        image = np.maximum(image, self.ui)
        truth_out = {"lesions": truth, "region_box": self.region_box, "probe": self.probe}
        if not self.color:
            return image, truth_out
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if self.doppler:
            x0, y0, x1, y1 = self.region_box
            cx, cy = (x0 + x1) // 2, y0 + (y1 - y0) // 4
            r = max(4, (x1 - x0) // 16)
            cv2.ellipse(bgr, (cx - r, cy), (r, r // 2), 0, 0, 360, (0, 0, 230), -1)
            cv2.ellipse(bgr, (cx + r, cy), (r, r // 2), 0, 0, 360, (230, 60, 0), -1)
        return bgr, truth_out


class SyntheticSource(FrameSource):
    """Frames from :class:`ProbeSimulator`, paced like a live probe or as fast as possible.

    Args:
        fps: Frame rate of the simulated probe; ``0`` or ``None`` renders as fast as the reader
            asks (lossless). Paced, a reader that falls behind misses frames, which are counted
            in :attr:`dropped_at_source` and show as gaps in :attr:`Frame.index`.
        frames: Stop after this many frames (``None``: endless).
        **simulator: Keyword arguments of :class:`ProbeSimulator`.

    Each frame's ``info["truth"]`` holds the ground truth of :meth:`ProbeSimulator.render`.
    """

    kind = "synthetic"
    default_region = "auto"
    PARAMS = {"fps": "frames per second, 0 = as fast as possible (default 30)",
              "size": "WIDTHxHEIGHT (default 800x600)", "seed": "integer (default 0)",
              "lesions": "0 to 3 (default 2)", "probe": "convex or linear (default convex)",
              "color": "1 for BGR frames", "doppler": "1 to draw a colour-flow box",
              "frames": "stop after N frames (default: endless)"}

    def __init__(self, fps: float | None = 30.0, frames: int | None = None,
                 **simulator: Any) -> None:
        super().__init__(fps=fps)
        self.live = self.fps is not None
        self.frames = frames
        self.simulator = ProbeSimulator(clock_fps=self.fps or 30.0, **simulator)
        self._start: float | None = None
        self._next = 0

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> SyntheticSource:
        check_params(cls.kind, params, cls.PARAMS)
        if target:
            raise SourceError(f"synthetic: unexpected target {target!r}; expected nothing "
                              "between 'synthetic://' and '?'. Fix: e.g. "
                              "synthetic://?fps=30&size=800x600")
        kw: dict[str, Any] = {}
        if "fps" in params:
            kw["fps"] = parse_number(cls.kind, "fps", params["fps"])
        if "size" in params:
            kw["size"] = parse_size(cls.kind, params["size"])
        for name in ("seed", "lesions", "frames"):
            if name in params:
                kw[name] = int(parse_number(cls.kind, name, params[name], integer=True))
        for name in ("color", "doppler"):
            if name in params:
                kw[name] = parse_bool(cls.kind, name, params[name])
        if "probe" in params:
            kw["probe"] = params["probe"]
        return cls(**kw)

    def describe(self) -> str:
        width, height = self.simulator.size
        pace = f"{self.fps:g} fps" if self.fps else "unpaced"
        return f"synthetic source ({width}x{height}, {self.simulator.probe}, {pace})"

    def _open(self) -> None:
        self._start = None  # the probe's clock starts with the first read, not at open
        self._next = 0

    def _read(self, timeout: float | None) -> RawFrame | None:
        if self.frames is not None and self._next >= self.frames:
            raise EndOfStream
        index = self._next
        device_time = None
        if self.fps:
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + index / self.fps
            now = time.monotonic()
            if now < due:
                if timeout is not None and due - now > timeout:
                    time.sleep(timeout)
                    return None
                time.sleep(due - now)
            else:  # the probe kept scanning while the reader was busy: newest frame wins
                newest = int((now - self._start) * self.fps)
                if self.frames is not None:
                    newest = min(newest, self.frames - 1)
                self.dropped_at_source += newest - index
                index = newest
            device_time = index / self.fps
        pixels, truth = self.simulator.render(index)
        self._next = index + 1
        return RawFrame(pixels, device_timestamp=device_time, index=index,
                        info={"truth": truth})
