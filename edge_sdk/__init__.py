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
    SourceDisconnected,
    SourceError,
)
from edge_sdk.imaging_region import ImagingRegion, detect_imaging_region
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
from edge_sdk.sources import SOURCES, Frame, FrameSource, PushSource, source_from_uri
from edge_sdk.streaming import StreamResult, StreamRunner, StreamStats
from edge_sdk.tracking import TemporalSmoother

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "SOURCES",
    "STAGES",
    "Backend",
    "BackendError",
    "Bundle",
    "BundleError",
    "ConfigError",
    "DatasetError",
    "EdgeSDKError",
    "Frame",
    "FrameError",
    "FrameResult",
    "FrameSource",
    "ImagingRegion",
    "InputSpec",
    "Lesion",
    "Manifest",
    "MissingDependencyError",
    "ModelSpec",
    "OnnxRuntimeBackend",
    "OutputSpec",
    "Pipeline",
    "PipelineParams",
    "PushSource",
    "ResultError",
    "SourceDisconnected",
    "SourceError",
    "StageLatency",
    "StreamResult",
    "StreamRunner",
    "StreamStats",
    "TemporalSmoother",
    "TensorSpec",
    "__version__",
    "detect_imaging_region",
    "file_sha256",
    "load_backend",
    "load_bundle",
    "source_from_uri",
    "write_bundle_manifest",
]
