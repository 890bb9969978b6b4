"""The streaming runtime: sources in, results out, with capture, segmentation and
classification overlapping in their own threads (see :mod:`edge_sdk.streaming.runner`)."""

from __future__ import annotations

from edge_sdk.streaming.handoff import POLICIES, HandoffPolicy
from edge_sdk.streaming.runner import StreamRunner
from edge_sdk.streaming.stats import StreamResult, StreamStats

__all__ = ["POLICIES", "HandoffPolicy", "StreamResult", "StreamRunner", "StreamStats"]
