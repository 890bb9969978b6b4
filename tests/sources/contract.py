"""The contract every frame source meets: one shared test class, a few lines per source.

A source's test module subclasses :class:`SourceContract` and provides ``source`` (an unopened
source that yields at least three frames) and ``uri`` (a URI naming an equivalent source).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import EndOfStream, Frame, FrameSource, source_from_uri


class SourceContract:
    finite: bool = True
    """Whether the source ends by itself (files) rather than streaming forever (live)."""

    @pytest.fixture()
    def source(self, tmp_path) -> FrameSource:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture()
    def uri(self, tmp_path) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_read_before_open_is_a_clear_error(self, source: FrameSource) -> None:
        with pytest.raises(SourceError, match="not open"):
            source.read()

    def test_frames_are_valid_numbered_and_timestamped(self, source: FrameSource) -> None:
        with source:
            assert source.is_open
            frames = [source.read(timeout=5.0) for _ in range(3)]
        assert not source.is_open
        for frame in frames:
            assert isinstance(frame, Frame)
            assert frame.pixels.dtype == np.uint8 and frame.pixels.ndim in (2, 3)
        indices = [f.index for f in frames]
        assert indices == sorted(set(indices))
        stamps = [f.host_timestamp for f in frames]
        assert stamps == sorted(stamps)
        assert not np.shares_memory(frames[0].pixels, frames[1].pixels)

    def test_close_twice_and_reopen(self, source: FrameSource) -> None:
        with source:
            first = source.read(timeout=5.0)
        source.close()
        with source:
            again = source.read(timeout=5.0)
        assert again.pixels.shape == first.pixels.shape

    def test_finite_sources_end(self, source: FrameSource) -> None:
        if not self.finite:  # a live source streams until closed: reads give frames, in order
            with source:
                live = [source.read(timeout=5.0) for _ in range(3)]
            assert [f.index for f in live] == sorted({f.index for f in live})
            return
        with source:
            frames = list(source)
            with pytest.raises(EndOfStream):
                source.read()
        assert len(frames) >= 3
        assert frames[-1].index == len(frames) - 1 + source.dropped_at_source

    def test_uri_names_the_same_kind(self, source: FrameSource, uri: str) -> None:
        made = source_from_uri(uri)
        assert isinstance(source, type(made))
        assert made.kind in made.describe()
