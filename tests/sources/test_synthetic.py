from __future__ import annotations

import time

import numpy as np
import pytest

from edge_sdk.errors import SourceError
from edge_sdk.imaging_region import detect_imaging_region
from edge_sdk.sources import ProbeSimulator, SyntheticSource, source_from_uri
from tests.sources.contract import SourceContract


class TestSyntheticContract(SourceContract):
    @pytest.fixture()
    def source(self, tmp_path):
        return SyntheticSource(fps=0, frames=4, size=(160, 120))

    @pytest.fixture()
    def uri(self, tmp_path):
        return "synthetic://?fps=0&frames=4&size=160x120"


def test_deterministic_per_seed_and_index():
    a, b = ProbeSimulator((160, 120), seed=5), ProbeSimulator((160, 120), seed=5)
    assert np.array_equal(a.render(7)[0], b.render(7)[0])
    assert not np.array_equal(a.render(7)[0], ProbeSimulator((160, 120), seed=6).render(7)[0])


@pytest.mark.parametrize("probe", ["convex", "linear"])
def test_ground_truth_lesions_are_dark_and_inside_the_imaging_area(probe):
    sim = ProbeSimulator((320, 240), seed=1, lesions=3, probe=probe)
    pixels, truth = sim.render(10)
    x0, y0, x1, y1 = truth["region_box"]
    inside = pixels[y0:y1, x0:x1][sim.fan_mask[y0:y1, x0:x1]]
    for lesion in truth["lesions"]:
        lx0, ly0, lx1, ly1 = lesion["bbox"]
        assert x0 <= lx0 < lx1 <= x1 and y0 <= ly0 < ly1 <= y1
        cx, cy = (round(v) for v in lesion["center"])
        assert pixels[cy - 2 : cy + 3, cx - 2 : cx + 3].mean() < 0.5 * inside.mean()


def test_burned_in_text_lies_outside_the_imaging_area():
    sim = ProbeSimulator((320, 240), seed=0, lesions=0)
    pixels, _ = sim.render(0)
    assert (sim.ui > 200).sum() > 50  # the UI text and scale bar are there
    assert not (sim.ui > 0)[sim.fan_mask].any()  # ... and only outside the imaging area
    region = detect_imaging_region(pixels)
    assert region.apply(sim.ui).max() == 0  # the crop keeps none of it


def test_lesions_move_slowly():
    sim = ProbeSimulator((320, 240), seed=0)
    a, b = sim.lesion_boxes(0)[0]["center"], sim.lesion_boxes(30)[0]["center"]
    assert 0 < abs(a[0] - b[0]) < 10 and a[1] == b[1]


def test_paced_source_skips_and_counts_frames_a_slow_reader_missed():
    with SyntheticSource(fps=100, size=(96, 64)) as source:
        first = source.read()
        time.sleep(0.2)  # the probe keeps scanning meanwhile (about 20 frames)
        late = source.read()
    assert late.index - first.index - 1 == source.dropped_at_source
    assert source.dropped_at_source >= 5


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("synthetic://?fps=fast", "fps='fast' is not a number"),
        ("synthetic://?size=800", "size '800' is not WIDTHxHEIGHT"),
        ("synthetic://?zoom=2", "unknown parameter.*accepted: fps"),
        ("synthetic://?probe=phased", "probe 'phased' is unknown"),
        ("synthetic://?lesions=9", "lesions=9; expected 0 to 3"),
        ("synthetic://?fps", "bad parameter 'fps'"),
    ],
)
def test_bad_parameters_say_what_is_accepted(uri, message):
    with pytest.raises(SourceError, match=message):
        source_from_uri(uri)
