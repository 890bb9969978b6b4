from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import ConfigError, FrameError
from edge_sdk.imaging_region import (
    ImagingRegion,
    RegionSelector,
    color_overlay_fraction,
    detect_imaging_region,
    has_color_overlay,
    parse_region,
)
from edge_sdk.sources import ProbeSimulator


@pytest.mark.parametrize("probe", ["convex", "linear"])
@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_detection_finds_the_simulators_imaging_area(probe, size):
    sim = ProbeSimulator(size, seed=3, probe=probe, lesions=3)
    pixels, truth = sim.render(5)
    region = detect_imaging_region(pixels)
    tx0, ty0, tx1, ty1 = truth["region_box"]
    x0, y0, x1, y1 = region.box
    # inside the true area, missing at most a thin rim of it
    assert tx0 <= x0 and ty0 <= y0 and x1 <= tx1 and y1 <= ty1
    assert (x1 - x0) * (y1 - y0) >= 0.9 * (tx1 - tx0) * (ty1 - ty0)
    assert (region.mask is not None) == (probe == "convex")
    assert region.apply(sim.ui).max() == 0  # no burned-in text survives


def test_fan_corners_are_filled_with_the_tissue_mean_not_black():
    sim = ProbeSimulator((320, 240), seed=0, lesions=0)
    pixels, _ = sim.render(0)
    region = detect_imaging_region(pixels)
    crop = region.apply(pixels)
    assert crop[0, 0] == crop[0, -1] and crop[0, 0] > 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", "auto"), ("source", "source"), ("none", None), (None, None),
     ("1,2,30,40", (1, 2, 30, 40)), ("1,2,3", ConfigError), ("a,b,c,d", ConfigError),
     ("5,5,2,9", ConfigError)],
)
def test_parse_region_table(text, expected):
    if expected is ConfigError:
        with pytest.raises(ConfigError):
            parse_region(text)
    else:
        got = parse_region(text)
        assert (got.box if isinstance(got, ImagingRegion) else got) == expected


def test_blank_frames_and_misfit_boxes_are_clear_errors():
    with pytest.raises(FrameError, match="blank.*x0,y0,x1,y1"):
        detect_imaging_region(np.zeros((100, 100), np.uint8))
    with pytest.raises(FrameError, match="lies outside the 50x50 frame"):
        ImagingRegion((0, 0, 60, 40)).apply(np.zeros((50, 50), np.uint8))
    with pytest.raises(ConfigError, match="expected bool"):
        ImagingRegion((0, 0, 10, 10), np.ones((5, 5), bool))


def test_selector_re_derives_on_size_change_and_honours_the_source_box():
    selector = RegionSelector("auto")
    small, large = ProbeSimulator((320, 240)).render(0)[0], ProbeSimulator((400, 300)).render(0)[0]
    first = selector.region_for(small)
    assert selector.region_for(small) is first and selector.detections == 1
    assert selector.region_for(large).box != first.box and selector.detections == 2
    by_source = RegionSelector("source").region_for(small, {"region_box": (1, 2, 30, 40)})
    assert by_source.box == (1, 2, 30, 40)
    assert RegionSelector(None).region_for(small) is None


def test_colour_overlay_detection():
    gray = np.full((40, 40, 3), 120, np.uint8)
    assert not has_color_overlay(gray) and color_overlay_fraction(gray) == 0.0
    doppler = gray.copy()
    doppler[10:14, 10:14] = (0, 0, 220)
    assert has_color_overlay(doppler)
    mask = np.zeros((40, 40), bool)
    mask[20:, 20:] = True
    assert not has_color_overlay(doppler, mask)  # colour outside the imaging area does not count
