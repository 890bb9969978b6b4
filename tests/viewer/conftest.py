"""Real results to show: the tiny bundle's pipeline over the probe simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.pipeline import Pipeline
from edge_sdk.sources import source_from_uri
from edge_sdk.streaming import StreamRunner
from edge_sdk.streaming.stats import StreamResult


@pytest.fixture(scope="session")
def stream_items(tiny_bundle_dir: Path) -> list[StreamResult]:
    """Twelve results of a real stream (imaging area cropped, as ``edge-sdk run`` does)."""
    source = source_from_uri("synthetic://?fps=0&size=320x240&frames=12&seed=1")
    with Pipeline(tiny_bundle_dir) as pipeline, StreamRunner(pipeline, source,
                                                              region="auto") as runner:
        return list(runner)
