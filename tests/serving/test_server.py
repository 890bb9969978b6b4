"""``edge-sdk serve``: the real Triton server answers as the in-process pipeline does."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.serving.conftest import require_server

require_server()

from edge_sdk.errors import FrameError, ServingError  # noqa: E402
from edge_sdk.pipeline import Pipeline  # noqa: E402
from edge_sdk.serving import Client, PipelineServer, RemotePipeline, wire  # noqa: E402
from edge_sdk.testing import synthetic_frame  # noqa: E402

PROTOCOLS = ["http", "grpc"]


def _url(server: PipelineServer, protocol: str) -> str:
    return f"{protocol}://" + (server.http_url if protocol == "http" else server.grpc_url)


def _frames() -> list[np.ndarray]:
    """Gray and BGR frames of several sizes, with none, one and several lesions."""
    rng = np.random.default_rng(3)
    frames = [synthetic_frame(240, 320, lesions=[(160, 120, 30, 20)]),
              synthetic_frame(200, 260, lesions=[]),
              synthetic_frame(480, 640, lesions=[(100, 100, 40, 30), (400, 300, 60, 50),
                                                 (500, 100, 20, 20)]),
              rng.integers(0, 255, (96, 128), dtype=np.uint8)]
    frames.append(np.dstack([frames[0]] * 3))
    frames.append(frames[2][:, :, None])
    return frames


def _assert_same(remote, local) -> None:
    np.testing.assert_array_equal(remote.mask, local.mask)
    assert remote.lesions == local.lesions  # boxes, areas, float64 scores, labels: exact
    assert remote.lesions_over_limit == local.lesions_over_limit
    assert remote.mask.shape == local.mask.shape and remote.mask.dtype == np.uint8


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_results_equal_the_in_process_pipeline(tiny_server: PipelineServer, protocol: str) -> None:
    assert tiny_server.bundle is not None
    with Client(_url(tiny_server, protocol)) as client, \
            Pipeline(tiny_server.bundle, backend_options={"threads": 1}) as pipeline:
        for index, frame in enumerate(_frames()):
            remote = client.process(frame, frame_index=index, timestamp=10.0 + index)
            _assert_same(remote, pipeline.process(frame))
            assert (remote.frame_index, remote.timestamp) == (index, 10.0 + index)
            assert remote.latency_ms.total > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_model_metadata_names_the_bundle(tiny_server: PipelineServer, protocol: str) -> None:
    assert tiny_server.bundle is not None
    info = Client(_url(tiny_server, protocol)).wait_ready(30)
    assert info.bundle_digest == tiny_server.bundle.digest
    assert info.bundle_name == "tiny-test"
    assert info.params == tiny_server.bundle.manifest.pipeline


def test_health_and_metrics_endpoints(tiny_server: PipelineServer) -> None:
    base = f"http://{tiny_server.http_url}"
    for path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{wire.MODEL_NAME}/ready"):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200
    Client(tiny_server.http_url).process(synthetic_frame(64, 64))
    with urllib.request.urlopen(tiny_server.metrics_url, timeout=10) as response:
        metrics = response.read().decode()
    assert f'nv_inference_request_success{{model="{wire.MODEL_NAME}"' in metrics


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("frame", "error"), [
    (np.zeros((10, 10), np.uint8), "10x10 pixels"),
    (np.zeros((64, 64, 2), np.uint8), r"shape \(64, 64, 2\)"),
    (np.zeros((64, 64, 4), np.uint8), "alpha channel"),
])
def test_a_bad_frame_is_a_typed_answer_not_a_dead_server(tiny_server: PipelineServer,
                                                         protocol: str, frame: np.ndarray,
                                                         error: str) -> None:
    client = Client(_url(tiny_server, protocol))
    with pytest.raises(FrameError, match=error):
        client.process(frame)
    assert client.process(synthetic_frame(64, 64)).mask.shape == (64, 64)  # still serving


def test_a_wrong_dtype_is_refused_by_triton_and_the_server_lives_on(
        tiny_server: PipelineServer) -> None:
    import tritonclient.http as http

    conn = http.InferenceServerClient(tiny_server.http_url)
    request = http.InferInput(wire.INPUT, [1, 64, 64, 1], "FP32")
    request.set_data_from_numpy(np.zeros((1, 64, 64, 1), np.float32))
    with pytest.raises(Exception, match="(?i)data ?type|FP32|UINT8"):
        conn.infer(wire.MODEL_NAME, [request])
    assert Client(tiny_server.http_url).process(synthetic_frame(64, 64)) is not None


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer(
        tiny_server: PipelineServer) -> None:
    """Eight threads at once: the dynamic batcher groups equal-shape requests; every answer
    is the one of its own frame."""
    assert tiny_server.bundle is not None
    frames = [synthetic_frame(240, 320, lesions=[(60 + 25 * i, 120, 20, 15)]) for i in range(8)]
    with Pipeline(tiny_server.bundle, backend_options={"threads": 1}) as pipeline:
        expected = [pipeline.process(f) for f in frames]
    failures: list[str] = []

    def probe(i: int) -> None:
        with Client(_url(tiny_server, PROTOCOLS[i % 2])) as client:
            for _ in range(5):
                try:
                    got = client.process(frames[i])
                except ServingError as exc:
                    failures.append(f"probe {i}: {exc}")
                    return
                if got.lesions != expected[i].lesions or not np.array_equal(got.mask,
                                                                            expected[i].mask):
                    failures.append(f"probe {i}: another answer")

    threads = [threading.Thread(target=probe, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures and not any(t.is_alive() for t in threads)


def test_remote_pipeline_streams_through_the_runtime(tiny_server: PipelineServer) -> None:
    from edge_sdk.sources import source_from_uri
    from edge_sdk.streaming import StreamRunner

    remote = RemotePipeline(Client(_url(tiny_server, "grpc")))
    source = source_from_uri("synthetic://?fps=0&size=320x240&frames=12&seed=1")
    with StreamRunner(remote, source, region="auto") as runner:  # type: ignore[arg-type]
        results = list(runner)
    assert len(results) == 12 and runner.stats.processed == 12 and runner.stats.failures == 0
    assert remote.params == tiny_server.bundle.manifest.pipeline  # type: ignore[union-attr]


def test_unknown_model_name_is_a_clear_error(tiny_server: PipelineServer) -> None:
    with pytest.raises(ServingError, match="refused|unavailable"):
        Client(tiny_server.http_url, model="nope").process(synthetic_frame(64, 64))


def test_serve_config_checks_itself(tmp_path: Path) -> None:
    from edge_sdk.errors import ConfigError
    from edge_sdk.serving import ServeConfig

    with pytest.raises(ConfigError, match="instances"):
        ServeConfig(instances=0)
    with pytest.raises(ConfigError, match="three different ports"):
        ServeConfig(http_port=9000, grpc_port=9000)
