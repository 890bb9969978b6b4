"""Fuzzed frames: any dtype, shape and values through a real pipeline (the tiny ONNX bundle in
ONNX Runtime) and through the streaming runtime. Each frame gives a result or a FrameError with
a fix; the pipeline stays usable; every frame a stream captured is accounted for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge_sdk.errors import FrameError
from edge_sdk.pipeline import Pipeline
from edge_sdk.results import FrameResult
from edge_sdk.sources import PushSource
from edge_sdk.streaming import StreamRunner
from edge_sdk.streaming.stats import check_accounting
from edge_sdk.testing import synthetic_frame
from tests.fuzz.conftest import SEEN, fuzz_settings

DTYPES = st.sampled_from([np.uint8, np.uint8, np.uint8, np.uint16, np.int16, np.int32,
                          np.float32, np.float64, np.bool_, np.int8, np.complex64])
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=80),
    st.tuples(st.integers(0, 80), st.integers(0, 80), st.sampled_from([1, 2, 3, 4, 5])),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
)


@st.composite
def frames(draw: st.DrawFn) -> np.ndarray:
    dtype, shape = draw(DTYPES), draw(SHAPES)
    fill = draw(st.sampled_from(["const", "random", "elements"]))
    if fill == "elements" and int(np.prod(shape)) <= 64:
        return draw(hnp.arrays(dtype, shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.uniform(-10, 300, shape) if fill == "random" else np.full(shape, 128.0)
    if np.dtype(dtype).kind == "f" and draw(st.booleans()):
        values = values / 255.0  # a 0-1 float frame
    with np.errstate(invalid="ignore", over="ignore"):
        return values.astype(dtype)


@pytest.fixture(scope="module")
def pipeline(tiny_bundle_dir):
    with Pipeline(tiny_bundle_dir, backend_options={"threads": 1}) as opened:
        yield opened


@fuzz_settings(150)
@given(frame=frames())
@example(frame=np.zeros((0, 0), np.uint8))
@example(frame=np.full((64, 64), np.nan, np.float32))
@example(frame=np.zeros((32, 32, 4), np.uint8))
def test_any_frame_gives_a_result_or_a_frame_error(pipeline: Pipeline, frame: np.ndarray) -> None:
    SEEN["frames"] += 1
    try:
        result = pipeline.process(frame)
    except FrameError as exc:
        assert "Fix:" in str(exc) and "\n" not in str(exc), str(exc)
    else:
        assert isinstance(result, FrameResult) and result.mask.shape == frame.shape[:2]


def test_the_pipeline_is_usable_after_every_error(pipeline: Pipeline) -> None:
    for bad in (np.zeros((0, 5), np.uint8), np.full((40, 40), np.inf)):
        with pytest.raises(FrameError):
            pipeline.process(bad)
    assert pipeline.process(synthetic_frame(96, 128)).mask.shape == (96, 128)


@fuzz_settings(40)
@given(batch=st.lists(
    st.tuples(st.integers(0, 120), st.integers(0, 120), st.sampled_from([0, 1, 3])),
    min_size=1, max_size=8))
@example(batch=[(0, 0, 0), (64, 64, 0), (0, 64, 3)])
def test_a_stream_of_fuzzed_frames_accounts_for_every_frame(pipeline: Pipeline,
                                                            batch: list[tuple[int, int, int]]
                                                            ) -> None:
    source = PushSource(capacity=len(batch))
    for height, width, channels in batch:
        shape = (height, width) if channels == 0 else (height, width, channels)
        source.push(np.full(shape, 100, np.uint8))
    source.end()
    SEEN["frames"] += len(batch)
    with StreamRunner(pipeline, source, policy="block", region="auto") as runner:
        results = list(runner)
    stats = runner.stats
    check_accounting(stats)
    # HxWx1 passes push() but not Frame: a counted source error, never captured
    assert stats.captured + stats.source_errors == len(batch)
    assert len(results) == stats.processed
