from __future__ import annotations

import threading

import numpy as np
import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import PushSource, SourceTimeout
from tests.sources.contract import SourceContract


class _Fed(PushSource):
    """A push source pre-filled with frames, as a firmware callback would have pushed them."""

    def _open(self) -> None:
        if self.frames_pushed == 0:
            for i in range(4):
                self.push(np.full((48, 64), 10 * i, np.uint8), timestamp=float(i))
            self.end()


class TestPushContract(SourceContract):
    @pytest.fixture()
    def source(self, tmp_path):
        return _Fed(capacity=8)

    @pytest.fixture()
    def uri(self, tmp_path):
        return "push"

    def test_close_twice_and_reopen(self, source):
        # an ended push stream cannot restart: closing twice is harmless, a later push says why
        with source:
            source.read(timeout=5.0)
        source.close()
        source.close()
        with pytest.raises(SourceError, match="has ended"):
            source.push(np.zeros((48, 64), np.uint8))


def test_push_from_another_thread_keeps_device_timestamps():
    source = PushSource(capacity=100)

    def firmware() -> None:
        for i in range(20):
            source.push(np.zeros((40, 40), np.uint8), timestamp=1000.0 + i / 30)
        source.end()

    with source:
        thread = threading.Thread(target=firmware)
        thread.start()
        frames = list(source)
        thread.join()
    assert [f.index for f in frames] == list(range(20))
    assert frames[-1].device_timestamp == pytest.approx(1000.0 + 19 / 30)


def test_a_full_push_source_drops_the_oldest_and_counts_it():
    source = PushSource(capacity=2)
    with source:
        for _i in range(5):
            source.push(np.zeros((40, 40), np.uint8))
        source.end()
        frames = list(source)
    assert [f.index for f in frames] == [3, 4]
    assert source.dropped_at_source == 3


def test_read_times_out_and_bad_frames_are_rejected():
    source = PushSource()
    with source:
        with pytest.raises(SourceTimeout):
            source.read(timeout=0.05)
        with pytest.raises(SourceError, match="expected a uint8 numpy array"):
            source.push(np.zeros((40, 40), np.float32))
        source.end()
        with pytest.raises(SourceError, match="has ended"):
            source.push(np.zeros((40, 40), np.uint8))
