"""Fixtures of the serving tests: free loopback ports and a real server on the tiny bundle.

The server tests start the real ``tritonserver`` of ``nvidia-pytriton`` (the ``serve`` extra),
whose python backend needs a virtual environment made by the system interpreter (see
docs/SERVING.md). ``.ci/run`` runs this folder in such an environment, ``.ci-serve-venv``, and
leaves it out of the main environment's run. Elsewhere, modules that need the server skip with
:data:`NEEDS_SERVER`'s reason; the wire format and repository tests run anywhere.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.serving import PipelineServer, ServeConfig

NEEDS_SERVER = ("needs the serve extra in a venv of the system Python (/usr/bin/python3 -m venv; "
                "see docs/SERVING.md); .ci/run runs these tests in .ci-serve-venv")


def require_server() -> None:
    """Skip the calling module unless PyTriton (and so tritonserver) is installed here."""
    pytest.importorskip("pytriton", reason=NEEDS_SERVER)


def free_ports(count: int = 3) -> list[int]:
    """Ports free on 127.0.0.1 right now (the kernel picks them; released before use)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def serve_config(bundle: Path, **options: object) -> ServeConfig:
    http, grpc, metrics = free_ports()
    return ServeConfig(bundle=bundle, http_port=http, grpc_port=grpc, metrics_port=metrics,
                       **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineServer]:
    """``edge_sdk_pipeline`` on the tiny bundle: two instances, one thread each, batching on."""
    from edge_sdk.testing import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path_factory.mktemp("served_bundle"))
    with PipelineServer(serve_config(bundle.root, instances=2, threads=1)) as server:
        yield server
