"""edge_sdk: run a two-stage breast-ultrasound model bundle (segment → crop → classify) on edge
devices. Imports numpy and OpenCV only; inference frameworks load when a backend activates.
"""

from __future__ import annotations

from edge_sdk.backends import BACKENDS, Backend, OnnxRuntimeBackend, TensorSpec, load_backend
from edge_sdk.bundle import Bundle, file_sha256, load_bundle, write_bundle_manifest
from edge_sdk.errors import (
    BackendError,
    BundleError,
    ConfigError,
    DatasetError,
    EdgeSDKError,
    FrameError,
    MissingDependencyError,
)
from edge_sdk.manifest import (
    SCHEMA_VERSION,
    InputSpec,
    Manifest,
    ModelSpec,
    OutputSpec,
    PipelineParams,
)
from edge_sdk.pipeline import Pipeline
from edge_sdk.results import STAGES, FrameResult, Lesion, ResultError, StageLatency

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "STAGES",
    "Backend",
    "BackendError",
    "Bundle",
    "BundleError",
    "ConfigError",
    "DatasetError",
    "EdgeSDKError",
    "FrameError",
    "FrameResult",
    "InputSpec",
    "Lesion",
    "Manifest",
    "MissingDependencyError",
    "ModelSpec",
    "OnnxRuntimeBackend",
    "OutputSpec",
    "Pipeline",
    "PipelineParams",
    "ResultError",
    "StageLatency",
    "TensorSpec",
    "__version__",
    "file_sha256",
    "load_backend",
    "load_bundle",
    "write_bundle_manifest",
]
