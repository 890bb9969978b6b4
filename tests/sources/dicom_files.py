"""Write real DICOM ultrasound cine files with pydicom, for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_sdk.sources.dicom import US_MULTIFRAME
from edge_sdk.sources.synthetic import ProbeSimulator


def write_cine(path: Path, frames: int = 4, size: tuple[int, int] = (160, 120), color: bool = False,
               frame_time_ms: float = 40.0, delta_cm: tuple[float, float] = (0.01, 0.02),
               seed: int = 0) -> tuple[Path, ProbeSimulator]:
    """A cine of simulator frames with an ultrasound region; delta_cm is (x, y) cm per pixel."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sim = ProbeSimulator(size, seed=seed, probe="linear", color=color)
    stack = np.stack([sim.render(i)[0] for i in range(frames)])
    if color:
        stack = stack[..., ::-1]  # BGR → RGB, as DICOM stores it
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName = "US", "DOE^JANE"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, size[1], size[0]
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = f"{frame_time_ms:g}"
    ds.FrameIncrementPointer = 0x00181063
    x0, y0, x1, y1 = sim.region_box
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1 - 1, y1 - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX, region.PhysicalDeltaY = delta_cm
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = stack.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path, sim
