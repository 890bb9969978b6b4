"""Serving the pipeline to many probes: Triton Inference Server, its client, its repositories.

- :class:`PipelineServer` / ``edge-sdk serve``: the pipeline as one Triton model (PyTriton).
- :class:`Client`: HTTP or gRPC; returns the same :class:`~edge_sdk.FrameResult` objects as the
  in-process pipeline. :class:`RemotePipeline` lets the streaming runtime use a server.
- :func:`export_repository` / ``edge-sdk export-triton``: a Triton model repository.

Nothing here imports PyTriton or tritonclient until it is used (the ``serve`` extra).
"""

from __future__ import annotations

from edge_sdk.serving.client import Client, RemotePipeline, ServerInfo
from edge_sdk.serving.server import PipelineServer, ServeConfig
from edge_sdk.serving.wire import MODEL_NAME

__all__ = ["MODEL_NAME", "Client", "PipelineServer", "RemotePipeline", "ServeConfig", "ServerInfo"]
