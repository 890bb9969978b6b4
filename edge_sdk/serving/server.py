"""``edge-sdk serve``: the two-stage pipeline as one Triton model, bound with PyTriton.

Triton (the real ``tritonserver`` shipped in ``nvidia-pytriton``) owns the endpoints: HTTP and
gRPC inference (KServe v2), ``/v2/health/live`` and ``/v2/health/ready``, Prometheus metrics,
dynamic batching and the model's instances. PyTriton hands each batch of requests to one of N
Python callables in this process; each callable owns its own :class:`~edge_sdk.Pipeline` (a
pipeline is not thread-safe) with its own ONNX Runtime thread budget.

One request is one frame, of any size; the dynamic batcher groups requests of equal shape (Triton
batches only those). A batch is processed frame by frame by the instance's pipeline, so every
result is bit-identical to the in-process pipeline's; what batching saves is the per-request
hand-off between Triton and Python.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

import edge_sdk
from edge_sdk.bundle import Bundle, default_bundle_path, load_bundle
from edge_sdk.errors import ConfigError, EdgeSDKError, ServingError
from edge_sdk.serving import wire
from edge_sdk.serving.compat import check_interpreter, import_pytriton

logger = logging.getLogger(__name__)

LAUNCH_ATTEMPTS = 3


@dataclass(frozen=True)
class ServeConfig:
    """Settings of :class:`PipelineServer` (``edge-sdk serve`` maps its flags onto these).

    Attributes:
        bundle: Bundle directory; None: the bundle shipped in the package.
        instances: Model instances, each with its own pipeline (Triton's ``instance_group``).
        threads: ONNX Runtime threads of each instance's pipeline (the thread budget).
        dynamic_batching: Let Triton group concurrent requests of one frame shape.
        max_batch_size: Largest group the batcher forms.
        max_queue_delay_us: How long the batcher may hold a request to grow a group.
        backend: Inference backend of the pipelines (``onnxruntime``, ``openvino``, ...).
        no_tta: Skip the bundle's mirror passes (as ``edge-sdk run --no-tta``).
        address: Interface the endpoints listen on.
        http_port, grpc_port, metrics_port: Endpoint ports.
        verbose: Print Triton's own log.
    """

    bundle: Path | None = None
    instances: int = 1
    threads: int = 1
    dynamic_batching: bool = True
    max_batch_size: int = 8
    max_queue_delay_us: int = 1000
    backend: str = "onnxruntime"
    no_tta: bool = False
    address: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    verbose: bool = False

    def __post_init__(self) -> None:
        checks = (("instances", self.instances >= 1), ("threads", self.threads >= 1),
                  ("max_batch_size", self.max_batch_size >= 1),
                  ("max_queue_delay_us", self.max_queue_delay_us >= 0))
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"ServeConfig.{name} is {getattr(self, name)}; expected >= 1 "
                                  f"(>= 0 for max_queue_delay_us)")
        ports = (self.http_port, self.grpc_port, self.metrics_port)
        if len(set(ports)) != 3 or not all(0 < p < 65536 for p in ports):
            raise ConfigError(f"ports http {self.http_port}, grpc {self.grpc_port}, metrics "
                              f"{self.metrics_port}: expected three different ports in 1..65535")


def server_metadata(bundle: Bundle, params: Any) -> dict[str, str]:
    """What a client learns from the model's config ``parameters``: which bundle, which settings."""
    return {
        "edge_sdk.version": edge_sdk.__version__,
        "edge_sdk.bundle_name": bundle.manifest.name,
        "edge_sdk.bundle_version": bundle.manifest.version,
        "edge_sdk.bundle_digest": bundle.digest,
        "edge_sdk.pipeline": json.dumps(params.to_dict(), sort_keys=True),
    }


def answer_frames(pipeline: Any, frames: np.ndarray) -> dict[str, np.ndarray]:
    """The response tensors of one request: its frames (batch axis first) through ``pipeline``.

    A frame the pipeline refuses becomes a typed error in ``error``; it never raises, so a bad
    frame fails neither the other requests of a dynamic batch nor the server.
    """
    outs = [_answer_one(pipeline, frame) for frame in np.asarray(frames)]
    return {name: _stack([o[name] for o in outs]) for name, _, _ in wire.OUTPUTS}


def _answer_one(pipeline: Any, frame: np.ndarray) -> dict[str, np.ndarray]:
    try:
        return wire.encode_result(pipeline.process(frame))
    except EdgeSDKError as exc:
        return wire.encode_error(exc)
    except Exception as exc:  # anything else too: one frame, one answer
        logger.exception("serve: frame failed")
        return wire.encode_error(ServingError(f"{type(exc).__name__}: {exc}"))


def _stack(items: list[np.ndarray]) -> np.ndarray:
    """Stack per-frame outputs on a batch axis, zero-padding ragged ones (a client sends one
    frame per request, so this is a plain ``[None]`` in practice)."""
    if len(items) == 1:
        return items[0][None]
    longest = max(len(i) for i in items)
    padded = [np.concatenate([i, np.zeros((longest - len(i),) + i.shape[1:], i.dtype)]) for i in items]
    return np.stack(padded)


class _Instance:
    """One model instance: a pipeline, and the callable PyTriton gives each batch of requests."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.lock = threading.Lock()  # PyTriton calls an instance from one thread; make sure

    def __call__(self, requests: list[Any]) -> list[dict[str, np.ndarray]]:
        with self.lock:
            return [answer_frames(self.pipeline, request[wire.INPUT]) for request in requests]


class PipelineServer:
    """Triton serving ``edge_sdk_pipeline``; ``with PipelineServer(config) as server: ...``.

    ``start()`` returns once the model is ready; ``serve_forever()`` blocks until Ctrl-C/SIGTERM
    or until Triton dies; ``stop()`` shuts Triton down and closes the pipelines.
    """

    def __init__(self, config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig()
        self._triton: Any = None
        self._pipelines: list[Any] = []
        self.bundle: Bundle | None = None

    @property
    def http_url(self) -> str:
        return f"{self.config.address}:{self.config.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.config.address}:{self.config.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.config.address}:{self.config.metrics_port}/metrics"

    def start(self) -> PipelineServer:
        if self._triton is not None:
            return self
        from edge_sdk.pipeline import Pipeline

        check_interpreter()
        import_pytriton()
        cfg = self.config
        self.bundle = load_bundle(cfg.bundle if cfg.bundle is not None else default_bundle_path())
        params = self.bundle.manifest.pipeline
        if cfg.no_tta:
            params = dataclasses.replace(params, segmenter_hflip=False, classifier_hflip=False)
        try:
            for _ in range(cfg.instances):
                self._pipelines.append(Pipeline(self.bundle, backend=cfg.backend, params=params,
                                                backend_options={"threads": cfg.threads}))
            for attempt in range(1, LAUNCH_ATTEMPTS + 1):
                try:
                    self._launch(server_metadata(self.bundle, params))
                    break
                except Exception as exc:
                    # PyTriton gives the 2nd..Nth instance 1 s to find the first one's hand-shake
                    # socket; on a loaded machine the first one can be later, and the load fails
                    self._stop_triton()
                    if attempt == LAUNCH_ATTEMPTS:
                        raise ServingError(
                            f"serve: Triton did not load {wire.MODEL_NAME} in {attempt} attempts "
                            f"({type(exc).__name__}: {exc}). Fix: run with --verbose to see "
                            "Triton's log; with several instances on a loaded machine, try "
                            "fewer --instances") from exc
                    logger.warning("serve: model load failed (%s); attempt %d of %d",
                                   exc, attempt + 1, LAUNCH_ATTEMPTS)
        except BaseException:
            self.stop()
            raise
        logger.info("serve: %s ready on http %s, grpc %s (bundle %s)", wire.MODEL_NAME,
                    self.http_url, self.grpc_url, self.bundle.digest[:12])
        return self

    def _launch(self, metadata: dict[str, str]) -> None:
        """Start Triton with ``edge_sdk_pipeline`` bound to this server's pipelines."""
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig

        cfg = self.config
        triton_config = TritonConfig(
            http_address=cfg.address, http_port=cfg.http_port, grpc_address=cfg.address,
            grpc_port=cfg.grpc_port, metrics_address=cfg.address, metrics_port=cfg.metrics_port,
            allow_gpu_metrics=False, log_verbose=1 if cfg.verbose else None)
        self._triton = Triton(config=triton_config)
        model_config = ModelConfig(
            batching=True, max_batch_size=cfg.max_batch_size,
            batcher=DynamicBatcher(max_queue_delay_microseconds=cfg.max_queue_delay_us)
            if cfg.dynamic_batching else None)  # None: one request per call, never grouped
        self._triton.bind(
            model_name=wire.MODEL_NAME,
            infer_func=[_Instance(p) for p in self._pipelines],
            inputs=[Tensor(name=wire.INPUT, dtype=np.uint8, shape=(-1, -1, -1))],
            outputs=[Tensor(name=n, dtype=d, shape=s) for n, d, s in wire.OUTPUTS],
            config=model_config, strict=False)
        self._model().backend_parameters.update(metadata)
        self._triton.run()

    def _model(self) -> Any:
        # PyTriton exposes no public hook for config parameters; reach the bound model's
        # generated config once, before the server loads it
        models = list(self._triton._model_manager.models)
        return models[0]._get_triton_model_config()

    def serve_forever(self) -> None:
        """Block until interrupted or until Triton exits, then stop."""
        if self._triton is None:
            self.start()
        try:
            self._triton.serve()
        finally:
            self.stop()

    def _stop_triton(self) -> None:
        triton, self._triton = self._triton, None
        if triton is not None:
            try:
                triton.stop()
            except Exception as exc:  # noqa: BLE001 - shutting down: report, keep closing
                logger.warning("serve: stopping Triton: %s", exc)
            # PyTriton 0.7 leaves its 4 MiB tensor store in /dev/shm after a stop; its name
            # starts with this process's id, so only this server's segments are removed
            for leftover in Path("/dev/shm").glob(f"pytrtion{os.getpid()}-*"):
                leftover.unlink(missing_ok=True)

    def stop(self) -> None:
        self._stop_triton()
        for pipeline in self._pipelines:
            pipeline.close()
        self._pipelines = []

    def __enter__(self) -> PipelineServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
