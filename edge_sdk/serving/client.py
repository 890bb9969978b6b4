"""The client of ``edge-sdk serve``: frames out, the in-process :class:`FrameResult` back.

A :class:`Client` speaks HTTP (``http://host:8000``, the default) or gRPC (``grpc://host:8001``)
through ``tritonclient``. Every call has a deadline: a server that is killed, restarting or
unreachable raises :class:`~edge_sdk.errors.ServerUnavailable` within ``timeout_s`` (never a
hang), and the next call connects afresh, so a stream continues once the server is back.

A tritonclient connection belongs to the thread that made it (the HTTP client runs on gevent),
so the client keeps one per thread.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.errors import ConfigError, ServerUnavailable, ServingError
from edge_sdk.manifest import PipelineParams
from edge_sdk.results import FrameResult
from edge_sdk.serving import wire

PROTOCOLS = {"http": 8000, "grpc": 8001}
"""Protocol → default port."""

FIX_SERVER = ("Fix: start the server (`edge-sdk serve`), check the URL and port, or raise "
              "timeout_s; the next call reconnects")


def parse_url(url: str) -> tuple[str, str]:
    """``"grpc://127.0.0.1:8001"`` → ``("grpc", "127.0.0.1:8001")``; no scheme means HTTP.

    Example:
        >>> parse_url("127.0.0.1"), parse_url("grpc://localhost")
        (('http', '127.0.0.1:8000'), ('grpc', 'localhost:8001'))
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    if scheme not in PROTOCOLS:
        raise ConfigError(f"server URL {url!r}: unknown scheme {scheme!r}; expected one of "
                          f"{sorted(PROTOCOLS)}, e.g. http://127.0.0.1:8000 or grpc://127.0.0.1:8001")
    rest = rest.rstrip("/")
    if not rest or "/" in rest:
        raise ConfigError(f"server URL {url!r}: expected HOST[:PORT], e.g. 127.0.0.1:8000")
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest = f"{rest}:{PROTOCOLS[scheme]}"
    return scheme, rest


@dataclass(frozen=True)
class ServerInfo:
    """What the server says about the model it serves (from its config ``parameters``).

    Attributes:
        bundle_digest: sha256 of the served bundle's manifest (identifies the whole bundle).
        bundle_name, bundle_version: The manifest's name and version.
        sdk_version: The server's edge-sdk version.
        params: The pipeline parameters the server runs with (class names, thresholds, ...).
    """

    bundle_digest: str
    bundle_name: str
    bundle_version: str
    sdk_version: str
    params: PipelineParams


class Client:
    """Send frames to ``edge_sdk_pipeline`` on a Triton server; get :class:`FrameResult` back.

    Args:
        url: ``http://HOST:PORT`` (default scheme) or ``grpc://HOST:PORT``.
        model: Model name on the server.
        timeout_s: Deadline of every call (connect, send, infer, receive).

    Example (with a server running)::

        with Client("grpc://127.0.0.1:8001") as client:
            result = client.process(frame)      # the same FrameResult as Pipeline.process
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", model: str = wire.MODEL_NAME,
                 timeout_s: float = 10.0) -> None:
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s={timeout_s}; expected > 0")
        self.protocol, self.address = parse_url(url)
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self._local = threading.local()
        self._info: ServerInfo | None = None
        self._frames = 0
        self.reconnects = 0
        self._module: Any = import_optional(f"tritonclient.{self.protocol}", "serve",
                                            "The serving client")

    # ---- connection -------------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if getattr(self._local, "lost", False):
                self.reconnects += 1
                self._local.lost = False
            if self.protocol == "http":
                conn = self._module.InferenceServerClient(
                    self.address, connection_timeout=self.timeout_s, network_timeout=self.timeout_s)
            else:
                conn = self._module.InferenceServerClient(self.address)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        self._local.lost = True
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass

    def _call(self, what: str, fn: Any) -> Any:
        """Run ``fn(conn)``; a lost server becomes :class:`ServerUnavailable` and a reconnect."""
        from tritonclient.utils import InferenceServerException

        try:
            return fn(self._conn())
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            text = str(exc.message() or exc)
            if any(s in status for s in ("UNAVAILABLE", "DEADLINE", "CANCELLED")) or any(
                    s in text.lower() for s in ("timed out", "connection", "socket closed")):
                self._drop()
                raise ServerUnavailable(f"{what}: server {self.url} unavailable ({text}). "
                                        f"{FIX_SERVER}") from None
            raise ServingError(f"{what}: server {self.url} refused the request: {text}") from None
        except (OSError, TimeoutError) as exc:  # refused, reset, timed out (HTTP, gevent)
            self._drop()
            raise ServerUnavailable(f"{what}: server {self.url} unavailable ({type(exc).__name__}: "
                                    f"{exc}). {FIX_SERVER}") from None
        except Exception as exc:  # noqa: BLE001
            # gevent and grpc wrap socket failures in their own types: any other failure of the
            # transport means the connection cannot be trusted any more
            self._drop()
            raise ServerUnavailable(f"{what}: server {self.url} unavailable ({type(exc).__name__}: "
                                    f"{exc}). {FIX_SERVER}") from None

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        if getattr(self._local, "conn", None) is not None:
            self._drop()
            self._local.lost = False

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- server state -----------------------------------------------------------------------
    def is_ready(self) -> bool:
        """Server live and the model ready (``/v2/health/ready`` and the model's ready state)."""
        try:
            return bool(self._call("ready", lambda c: c.is_server_ready()
                                   and c.is_model_ready(self.model)))
        except ServerUnavailable:
            return False

    def wait_ready(self, timeout_s: float = 60.0) -> ServerInfo:
        """Poll until the model is ready, then return :attr:`info`."""
        deadline = time.monotonic() + timeout_s
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"server {self.url}: model {self.model} not ready after "
                                        f"{timeout_s:g} s. {FIX_SERVER}")
            time.sleep(0.2)
        return self.info

    @property
    def info(self) -> ServerInfo:
        """The served bundle and pipeline parameters (asked once)."""
        if self._info is None:
            if self.protocol == "http":
                config = self._call("model config", lambda c: c.get_model_config(self.model))
            else:
                config = self._call("model config", lambda c: c.get_model_config(
                    self.model, as_json=True, client_timeout=self.timeout_s))["config"]
            raw = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
            if "edge_sdk.bundle_digest" not in raw:
                raise ServingError(f"server {self.url}: model {self.model} carries no edge_sdk "
                                   "metadata; expected a model served by `edge-sdk serve` or "
                                   "exported by `edge-sdk export-triton`. Fix: check the model name")
            self._info = ServerInfo(
                bundle_digest=raw["edge_sdk.bundle_digest"],
                bundle_name=raw.get("edge_sdk.bundle_name", ""),
                bundle_version=raw.get("edge_sdk.bundle_version", ""),
                sdk_version=raw.get("edge_sdk.version", ""),
                params=PipelineParams.from_dict(json.loads(raw["edge_sdk.pipeline"])),
            )
        return self._info

    # ---- inference --------------------------------------------------------------------------
    def process(self, frame: np.ndarray, frame_index: int | None = None,
                timestamp: float | None = None,
                device_timestamp: float | None = None) -> FrameResult:
        """Process one frame on the server, like :meth:`edge_sdk.Pipeline.process`.

        Raises:
            FrameError: the frame is not an image the pipeline accepts (the server's answer).
            ServerUnavailable: no answer within ``timeout_s``; the next call reconnects.
        """
        if timestamp is None:
            timestamp = time.monotonic()
        index = self._frames if frame_index is None else frame_index
        self._frames += 1
        tensor = wire.frame_tensor(frame)[None]
        outputs = self._call("infer", lambda c: self._infer(c, tensor))
        return wire.decode_result(outputs, tensor.shape[1:3], index, timestamp, device_timestamp)

    def _infer(self, conn: Any, tensor: np.ndarray) -> dict[str, np.ndarray]:
        module = self._module
        request = module.InferInput(wire.INPUT, list(tensor.shape), "UINT8")
        if self.protocol == "http":
            request.set_data_from_numpy(tensor, binary_data=True)
            wanted = [module.InferRequestedOutput(n, binary_data=True) for n, _, _ in wire.OUTPUTS]
            response = conn.infer(self.model, [request], outputs=wanted)
        else:
            request.set_data_from_numpy(tensor)
            wanted = [module.InferRequestedOutput(n) for n, _, _ in wire.OUTPUTS]
            response = conn.infer(self.model, [request], outputs=wanted,
                                  client_timeout=self.timeout_s)
        return {name: response.as_numpy(name)[0] for name, _, _ in wire.OUTPUTS}


@dataclass(frozen=True)
class _Answered:
    """A frame's remote result, passed from ``segment`` to ``classify`` by the streaming runtime."""

    result: FrameResult


class RemotePipeline:
    """A :class:`Client` shaped like :class:`~edge_sdk.Pipeline` for the streaming runtime.

    ``segment`` sends the frame and waits for its whole result; ``classify`` hands it on. A
    server error or an outage is an :class:`~edge_sdk.errors.EdgeSDKError`, which the runtime
    counts as one failed frame and goes on (the client reconnects on the next frame).
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.params = client.info.params

    def segment(self, frame: np.ndarray, frame_index: int | None = None,
                timestamp: float | None = None, device_timestamp: float | None = None) -> _Answered:
        return _Answered(self.client.process(frame, frame_index, timestamp, device_timestamp))

    @staticmethod
    def classify(answered: _Answered) -> FrameResult:
        return answered.result

    def process(self, frame: np.ndarray, **kwargs: Any) -> FrameResult:
        return self.client.process(frame, **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RemotePipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
