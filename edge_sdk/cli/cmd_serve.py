"""``edge-sdk serve`` and ``edge-sdk export-triton``: the pipeline on Triton Inference Server."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from edge_sdk.cli.common import positive_int


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (docker stop, systemd) shuts the server down as cleanly as Ctrl-C. Only the
    first one: a second, arriving while Triton and the pipelines stop, would cut that stop short
    and leave a tritonserver behind."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _cmd_serve(args: argparse.Namespace) -> int:
    from edge_sdk.serving.server import PipelineServer, ServeConfig

    ports = {"http_port": args.http_port, "grpc_port": args.grpc_port,
             "metrics_port": args.metrics_port, "address": args.address}
    signal.signal(signal.SIGTERM, _interrupt)
    if args.repository is not None:
        import time

        from edge_sdk.serving.tritonbin import TritonProcess

        with TritonProcess(args.repository, **ports) as server:
            print(f"serving {args.repository} on http {args.address}:{args.http_port}, grpc "
                  f"{args.address}:{args.grpc_port}, metrics {args.address}:{args.metrics_port} "
                  f"(log {server.log})", file=sys.stderr, flush=True)
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
            print(f"tritonserver exited: {server.log_tail()}", file=sys.stderr)
        return 1
    config = ServeConfig(
        bundle=args.bundle, instances=args.instances, threads=args.threads,
        dynamic_batching=not args.no_dynamic_batching, max_batch_size=args.max_batch_size,
        max_queue_delay_us=args.max_queue_delay_us, backend=args.backend, no_tta=args.no_tta,
        verbose=args.verbose, **ports)
    pipeline_server = PipelineServer(config)
    # the whole life of the server is inside the try: a SIGTERM that comes as soon as the
    # server answers (before serve_forever has begun) is the same clean stop as a later one
    try:
        pipeline_server.start()
        bundle = pipeline_server.bundle
        print(json.dumps({"model": "edge_sdk_pipeline", "http": pipeline_server.http_url,
                          "grpc": pipeline_server.grpc_url, "metrics": pipeline_server.metrics_url,
                          "bundle": bundle.manifest.name if bundle else None,
                          "bundle_digest": bundle.digest if bundle else None,
                          "instances": config.instances, "threads": config.threads,
                          "dynamic_batching": config.dynamic_batching}),
              file=sys.stderr, flush=True)
        pipeline_server.serve_forever()  # stops Triton and the pipelines however it ends
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a requested, clean stop
        pass
    finally:
        pipeline_server.stop()  # a no-op when serve_forever or a failed start already stopped
    return 0


def _cmd_export_triton(args: argparse.Namespace) -> int:
    from edge_sdk.serving.repository import export_repository

    written = export_repository(args.bundle, args.out, kind=args.kind, instances=args.instances,
                                threads=args.threads, max_batch_size=args.max_batch_size,
                                max_queue_delay_us=args.max_queue_delay_us)
    for kind, path in written.items():
        models = sorted(p.parent.name for p in path.glob("*/config.pbtxt"))
        print(f"{kind}: {path}  ({', '.join(models)}; every config.pbtxt checked against "
              "Triton's ModelConfig)")
    return 0


def open_remote(args: argparse.Namespace) -> Any:
    """``edge-sdk run --server URL``: a pipeline-shaped client of a running server."""
    from edge_sdk.serving.client import Client, RemotePipeline

    client = Client(args.server)
    info = client.wait_ready(timeout_s=30.0)
    print(f"server {args.server}: bundle {info.bundle_name} {info.bundle_version} (digest "
          f"{info.bundle_digest[:12]}), edge-sdk {info.sdk_version}", file=sys.stderr, flush=True)
    return RemotePipeline(client)


def _add_serving_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=positive_int, default=1,
                        help="model instances, each with its own pipeline (default: 1)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="inference threads of each instance (default: 1; keep "
                             "instances x threads <= cores)")
    parser.add_argument("--max-batch-size", type=positive_int, default=8,
                        help="largest dynamic batch (default: 8)")
    parser.add_argument("--max-queue-delay-us", type=int, default=1000,
                        help="how long the batcher may hold a request to grow a batch (default: 1000)")


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the pipeline on Triton Inference Server "
                           "(HTTP, gRPC, metrics; the serve extra)")
    serve.add_argument("--bundle", type=Path, default=None,
                       help="bundle directory (default: the bundle shipped with the package)")
    serve.add_argument("--backend", default="onnxruntime",
                       help="inference backend of each instance (default: onnxruntime)")
    serve.add_argument("--no-tta", action="store_true", help="skip the bundle's mirror passes")
    _add_serving_args(serve)
    serve.add_argument("--no-dynamic-batching", action="store_true",
                       help="answer every request on its own (no batcher)")
    serve.add_argument("--address", default="127.0.0.1",
                       help="interface to listen on (default: 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--http-port", type=positive_int, default=8000)
    serve.add_argument("--grpc-port", type=positive_int, default=8001)
    serve.add_argument("--metrics-port", type=positive_int, default=8002)
    serve.add_argument("--repository", type=Path, default=None,
                       help="serve an exported model repository instead (the python variant of "
                            "edge-sdk export-triton) with the bundled tritonserver")
    serve.add_argument("--verbose", action="store_true", help="show Triton's own log")
    serve.set_defaults(func=_cmd_serve)

    export = sub.add_parser("export-triton", help="write a Triton model repository for a bundle")
    export.add_argument("bundle", type=Path, help="bundle directory")
    export.add_argument("out", type=Path,
                        help="output folder: OUT/<kind> for a production Triton and OUT/python "
                             "for the tritonserver in nvidia-pytriton")
    export.add_argument("--kind", choices=("onnxruntime", "tensorrt"), default="onnxruntime",
                        help="backend of the two nets (default: onnxruntime; tensorrt: plans "
                             "built on the target, see OUT/tensorrt/BUILD_ENGINES.md)")
    _add_serving_args(export)
    export.set_defaults(func=_cmd_export_triton)
