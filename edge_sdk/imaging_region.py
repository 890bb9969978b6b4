"""The imaging area of a scanner's screen: crop to it so that burned-in text never goes further.

A scanner's video output shows the ultrasound image inside a rectangle or fan, and the patient
name, ID, date, probe settings and scale bars around it. The runtime crops every frame to the
imaging area *before* inference; only the crop reaches results, overlays and recordings.

Three ways to know the area: a fixed box (``"x0,y0,x1,y1"``), what the source reports (DICOM's
Sequence of Ultrasound Regions), or :func:`detect_imaging_region` on the first frame of each size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_sdk.errors import ConfigError, FrameError

Box = tuple[int, int, int, int]

REGION_MODES = ("auto", "source", "none", "x0,y0,x1,y1")
"""What ``region=`` accepts (see :func:`parse_region`)."""


@dataclass(frozen=True)
class ImagingRegion:
    """A box of the frame and, optionally, the fan-shaped area inside it.

    Attributes:
        box: (x0, y0, x1, y1) in frame pixels, end-exclusive.
        mask: Optional bool array of the box's size, True inside the imaging area (a fan). Pixels
            outside it are filled with the mean of those inside: the nets learned on rectangular
            images, and black corners would look like anechoic tissue to them.

    Example:
        >>> import numpy as np
        >>> frame = np.zeros((100, 120), np.uint8)
        >>> ImagingRegion((10, 20, 110, 90)).apply(frame).shape
        (70, 100)
    """

    box: Box
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise ConfigError(f"imaging region box {self.box} is not (x0, y0, x1, y1) with "
                              "0 <= x0 < x1 and 0 <= y0 < y1")
        if self.mask is not None and (self.mask.dtype != bool
                                      or self.mask.shape != (y1 - y0, x1 - x0)):
            raise ConfigError(f"imaging region mask has shape {self.mask.shape} and dtype "
                              f"{self.mask.dtype}; expected bool {(y1 - y0, x1 - x0)} (the box)")

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether the box lies inside a frame of ``shape``."""
        return self.box[2] <= shape[1] and self.box[3] <= shape[0]

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Return a new array holding only the imaging area of ``pixels``.

        Raises:
            FrameError: the box does not fit inside the frame.
        """
        if not self.fits(pixels.shape):
            raise FrameError(f"imaging region {self.box} lies outside the "
                             f"{pixels.shape[0]}x{pixels.shape[1]} frame. Fix: use region=auto, "
                             "or a box inside the frame")
        x0, y0, x1, y1 = self.box
        crop = pixels[y0:y1, x0:x1].copy()
        if self.mask is not None:
            inside = crop[self.mask]
            fill = inside.mean(axis=0) if inside.size else 0
            crop[~self.mask] = np.asarray(fill).round().astype(np.uint8)
        return crop


def parse_region(text: str | None) -> str | ImagingRegion | None:
    """Parse a region setting: ``auto``, ``source``, ``none`` or ``x0,y0,x1,y1``.

    Example:
        >>> parse_region("10,20,300,200").box
        (10, 20, 300, 200)
        >>> parse_region("auto")
        'auto'
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    lowered = text.strip().lower()
    if lowered in ("auto", "source"):
        return lowered
    try:
        values = tuple(int(v) for v in lowered.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"region {text!r} is not understood; expected one of {REGION_MODES}")
    return ImagingRegion((values[0], values[1], values[2], values[3]))


def detect_imaging_region(frame: np.ndarray, min_area_fraction: float = 0.1) -> ImagingRegion:
    """Find the imaging area of a scanner frame: the largest textured blob, text removed.

    Burned-in text and scale bars are thin bright strokes on black; a morphological opening
    wider than a stroke erases them, while the speckled imaging area survives as one large blob.

    Args:
        frame: uint8 H×W or H×W×3.
        min_area_fraction: The area must cover at least this fraction of the frame.

    Raises:
        FrameError: no blob large enough (e.g. a black frame); the message says how to set a box.
    """
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    side = min(height, width)
    size = max(3, side // 60) | 1
    blur = cv2.blur(gray, (size, size))
    active = (blur > 12).astype(np.uint8)
    k = max(5, side // 45) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    active = np.asarray(cv2.morphologyEx(active, cv2.MORPH_OPEN, kernel), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(active, connectivity=8)
    if count <= 1:
        raise FrameError("no imaging area found: the frame is blank. Fix: pass region as a box "
                         "'x0,y0,x1,y1'")
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < min_area_fraction * height * width:
        raise FrameError(f"no imaging area found: the largest textured blob covers "
                         f"{stats[best, cv2.CC_STAT_AREA] / (height * width):.1%} of the frame, "
                         f"expected >= {min_area_fraction:.0%}. Fix: pass region as a box")
    contours, _ = cv2.findContours((labels == best).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    full = np.zeros((height, width), np.uint8)
    cv2.drawContours(full, contours, -1, 1, thickness=-1)  # fills dark lesions and cysts inside
    # the blur spread the area outward by half its size: shrink it back, plus a safety pixel
    shrink = cv2.getStructuringElement(cv2.MORPH_RECT, (size + 2, size + 2))
    full = np.asarray(cv2.erode(full, shrink), np.uint8)
    x, y, w, h = cv2.boundingRect(full)
    if w == 0 or h == 0:
        raise FrameError("no imaging area found after trimming its edge. Fix: pass region as a box")
    mask = full[y : y + h, x : x + w].astype(bool)
    if mask.mean() > 0.97:  # a rectangle: no fan mask needed
        return ImagingRegion((x, y, x + w, y + h))
    return ImagingRegion((x, y, x + w, y + h), mask)


def color_overlay_fraction(image: np.ndarray, mask: np.ndarray | None = None,
                           min_spread: int = 40) -> float:
    """Fraction of (masked) pixels whose colour channels differ by more than ``min_spread``.

    Gray ultrasound has equal channels; Doppler flow, coloured markers and measurement graphics
    do not. 0.0 for a grayscale image.
    """
    if image.ndim == 2:
        return 0.0
    spread = image.max(axis=2).astype(np.int16) - image.min(axis=2).astype(np.int16)
    coloured = spread > min_spread
    if mask is not None:
        return float(coloured[mask].mean()) if mask.any() else 0.0
    return float(coloured.mean())


def has_color_overlay(image: np.ndarray, mask: np.ndarray | None = None,
                      min_fraction: float = 0.002) -> bool:
    """Whether an imaging area carries colour overlays (see :func:`color_overlay_fraction`).

    Example:
        >>> import numpy as np
        >>> rgb = np.zeros((40, 40, 3), np.uint8); rgb[:10, :10, 2] = 200
        >>> has_color_overlay(rgb), has_color_overlay(rgb[..., 0])
        (True, False)
    """
    return color_overlay_fraction(image, mask) >= min_fraction


class RegionSelector:
    """Chooses the imaging region of each frame; re-derives it when the frame size changes.

    Args:
        setting: ``None`` (whole frame), ``"auto"`` (detect on the first frame of each size),
            ``"source"`` (the box the source reports in ``info["region_box"]``, else auto), or a
            fixed :class:`ImagingRegion`.
    """

    def __init__(self, setting: str | ImagingRegion | None) -> None:
        if isinstance(setting, str):
            setting = parse_region(setting)
        self.setting = setting
        self._cache: dict[tuple[int, ...], ImagingRegion] = {}
        self.detections = 0

    def region_for(self, pixels: np.ndarray, info: dict | None = None) -> ImagingRegion | None:
        """The region to crop ``pixels`` to, or ``None`` to keep the whole frame."""
        if self.setting is None:
            return None
        if isinstance(self.setting, ImagingRegion):
            return self.setting
        if self.setting == "source" and info and info.get("region_box") is not None:
            return ImagingRegion(tuple(int(v) for v in info["region_box"]))  # type: ignore[arg-type]
        shape = pixels.shape
        region = self._cache.get(shape)
        if region is None:
            region = detect_imaging_region(pixels)
            self._cache[shape] = region
            self.detections += 1
        return region
