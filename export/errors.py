"""The toolchain's errors: part of the SDK's one hierarchy (:mod:`edge_sdk.errors`)."""

from __future__ import annotations

from edge_sdk.errors import EdgeSDKError


class ExportError(EdgeSDKError):
    """A toolchain step (training, export, quantization, gate, bundle) failed or was misused."""


class GateError(ExportError):
    """A converted model lost more accuracy than the gate allows.

    Attributes:
        result: The gate's per-metric record (reference, converted, drop), for the manifest.
    """

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}
