"""DICOM ultrasound cine loops (Ultrasound Multi-frame Image Storage), read frame by frame.

The physical pixel size and the imaging area come from the Sequence of Ultrasound Regions
(0018,6011): the region of 2D tissue gives ``PhysicalDeltaX/Y`` (cm per pixel, we report mm) and
its bounding box (``RegionLocationMinX0`` ...), which the runtime can crop to (``region=source``).
pydicom (the ``sources`` extra) is imported when a file is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import SourceError
from edge_sdk.sources.base import EndOfStream, FrameSource, RawFrame
from edge_sdk.sources.uri import check_params, parse_bool, parse_number

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
_CM = 3  # PhysicalUnitsX/YDirection code for centimetres
_TISSUE_2D = 1  # RegionSpatialFormat code for a 2D image


def ultrasound_region(ds: Any) -> tuple[tuple[int, int, int, int] | None,
                                        tuple[float, float] | None]:
    """The imaging box (x0, y0, x1, y1) and spacing (row, col) in mm of a dataset's 2D region.

    Uses the first region of spatial format 2D with centimetre units; falls back to
    ``PixelSpacing`` for the spacing. Either may be ``None`` when the file does not say.
    """
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        if int(region.get("RegionSpatialFormat", 0)) != _TISSUE_2D:
            continue
        box = (int(region.RegionLocationMinX0), int(region.RegionLocationMinY0),
               int(region.RegionLocationMaxX1) + 1, int(region.RegionLocationMaxY1) + 1)
        spacing = None
        if (int(region.get("PhysicalUnitsXDirection", 0)) == _CM
                and int(region.get("PhysicalUnitsYDirection", 0)) == _CM):
            spacing = (abs(float(region.PhysicalDeltaY)) * 10.0,
                       abs(float(region.PhysicalDeltaX)) * 10.0)
        return box, spacing
    pixel_spacing = ds.get("PixelSpacing")
    return None, (float(pixel_spacing[0]), float(pixel_spacing[1])) if pixel_spacing else None


def frame_rate(ds: Any) -> float | None:
    """Frames per second from ``FrameTime`` (ms), ``CineRate`` or ``RecommendedDisplayFrameRate``."""
    frame_time = ds.get("FrameTime")
    if frame_time and float(frame_time) > 0:
        return 1000.0 / float(frame_time)
    for name in ("CineRate", "RecommendedDisplayFrameRate"):
        value = ds.get(name)
        if value and float(value) > 0:
            return float(value)
    return None


class DicomCineSource(FrameSource):
    """Frames of a DICOM ultrasound cine (or single image), decoded one at a time.

    Args:
        path: The ``.dcm`` file.
        pace: Deliver at the file's frame rate (``FrameTime``/``CineRate``); default: as fast as
            they decode (lossless review).
        fps: Deliver at this rate instead.

    Each frame carries ``spacing_mm`` and ``info["region_box"]`` from the ultrasound region, and
    its device timestamp is its time in the loop (frame number × frame time).
    """

    kind = "dicom"
    default_region = "source"
    PARAMS = {"pace": "1 to deliver at the file's frame rate", "fps": "deliver at this rate"}

    def __init__(self, path: str | Path, pace: bool = False, fps: float | None = None) -> None:
        super().__init__(fps=fps)
        self.path, self.pace = Path(path), pace
        self.file_fps: float | None = None
        self.frame_count = 0
        self.region_box: tuple[int, int, int, int] | None = None
        self.spacing_mm: tuple[float, float] | None = None
        self._frames: Iterator[np.ndarray] | None = None
        self._photometric = "MONOCHROME2"
        self._compressed, self._syntax = False, ""
        self._next = 0

    @classmethod
    def from_uri(cls, target: str, params: dict[str, str]) -> DicomCineSource:
        check_params(cls.kind, params, cls.PARAMS)
        return cls(target, pace=parse_bool(cls.kind, "pace", params["pace"]) if "pace" in params
                   else False,
                   fps=parse_number(cls.kind, "fps", params["fps"]) if "fps" in params else None)

    def describe(self) -> str:
        return f"dicom source {self.path}"

    def _open(self) -> None:
        pydicom = import_optional("pydicom", "sources", "Reading DICOM cine loops")
        from pydicom.pixels import iter_pixels

        if not self.path.is_file():
            raise SourceError(f"{self.describe()}: no such file; expected a DICOM ultrasound "
                              "file. Fix: check the path")
        try:
            ds = pydicom.dcmread(self.path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises InvalidDicomError and friends
            raise SourceError(f"{self.describe()}: not a readable DICOM file ({exc}). Fix: "
                              "export the cine again from the scanner or PACS") from exc
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        self._compressed = bool(getattr(syntax, "is_compressed", False))
        self._syntax = str(getattr(syntax, "name", syntax))
        sop = str(ds.get("SOPClassUID", ""))
        if sop not in (US_MULTIFRAME, US_IMAGE):
            raise SourceError(f"{self.describe()}: SOP class {sop or 'missing'} is not ultrasound; "
                              f"expected Ultrasound Multi-frame Image Storage ({US_MULTIFRAME}) "
                              f"or Ultrasound Image Storage ({US_IMAGE}). Fix: export the "
                              "ultrasound series, not a report or secondary capture")
        if int(ds.get("BitsAllocated", 8)) != 8:
            raise SourceError(f"{self.describe()}: {ds.BitsAllocated}-bit pixels; expected 8-bit "
                              "ultrasound frames. Fix: export the cine with 8-bit pixels "
                              "(the scanner's DICOM export settings)")
        self.frame_count = int(ds.get("NumberOfFrames", 1) or 1)
        self.file_fps = frame_rate(ds)
        self.region_box, self.spacing_mm = ultrasound_region(ds)
        self._photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        if self.pace and self.fps is None:
            self.fps = self.file_fps
        # iter_pixels decodes one frame at a time: a long cine never sits in memory whole
        self._frames = iter_pixels(self.path)
        self._next = 0

    def _read(self, timeout: float | None) -> RawFrame | None:
        if self._frames is None or self._next >= self.frame_count:
            raise EndOfStream
        try:
            pixels = next(self._frames)
        except StopIteration:
            raise EndOfStream from None
        except Exception as exc:  # a missing decoder plugin, or a corrupt or truncated file
            text = str(exc).lower()
            if self._compressed and ("plugin" in text or "handler" in text
                                     or "no pixel data decoders" in text):
                fix = (f"the cine is compressed ({self._syntax}) and no decoder for it is "
                       "installed. Fix: pip install pylibjpeg pylibjpeg-libjpeg")
            else:  # installing a decoder would not help a damaged file
                fix = ("the pixel data is corrupt or truncated. Fix: copy or export the cine "
                       "again from the scanner or PACS")
            raise SourceError(f"{self.describe()}: cannot decode frame {self._next} ({exc}); "
                              f"{fix}") from exc
        pixels = np.asarray(pixels)
        if pixels.ndim == 3 and pixels.shape[2] == 3:  # pydicom gives RGB: we speak BGR
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        elif self._photometric == "MONOCHROME1":
            pixels = 255 - pixels
        index = self._next
        self._next += 1
        stamp = index / self.file_fps if self.file_fps else None
        return RawFrame(np.ascontiguousarray(pixels, np.uint8), device_timestamp=stamp,
                        spacing_mm=self.spacing_mm, info={"region_box": self.region_box},
                        index=index)

    def _close(self) -> None:
        if self._frames is not None and hasattr(self._frames, "close"):
            self._frames.close()
        self._frames = None
