"""The toolchain's errors: part of the SDK's one hierarchy (:mod:`edge_sdk.errors`)."""

from __future__ import annotations

from edge_sdk.errors import EdgeSDKError


class ExportError(EdgeSDKError):
    """A toolchain step (training, export, quantization, gate, bundle) failed or was misused."""


class GateError(ExportError):
    """A converted model lost more accuracy than the gate allows."""
