"""edge-sdk bench: statistics on known data, variants, the JSON schema, reports and plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_sdk import ConfigError
from edge_sdk.bench import BenchOptions, parse_compare, run_benchmark, write_outputs
from edge_sdk.bench.floor import count_macs, floor_ms
from edge_sdk.bench.report import SCHEMA, markdown, noise_warning, terminal_table
from edge_sdk.timing import describe

STAGE_KEYS = {"min", "mean", "p50", "p90", "p95", "p99", "max", "std"}


def test_describe_on_known_data() -> None:
    stats = describe(list(range(1, 101)))  # 1..100 ms
    assert stats["min"] == 1 and stats["max"] == 100 and stats["mean"] == 50.5
    assert stats["p50"] == pytest.approx(50.5) and stats["p90"] == pytest.approx(90.1)
    assert stats["p99"] == pytest.approx(99.01)


def test_noise_warning() -> None:
    assert noise_warning([10.0] * 99 + [11.0]) is None
    assert "noisy run" in noise_warning([10.0] * 95 + [80.0] * 5)


def test_parse_compare(tmp_path: Path) -> None:
    variants = parse_compare("torch-fp32,onnxruntime-int8-cpu=/x,openvino", tmp_path, None, threads=2)
    assert [v.bundle for v in variants] == [tmp_path / "fp32", Path("/x"), tmp_path / "fp32"]
    assert variants[2].options == {"precision": "default", "threads": 2}
    pattern = parse_compare("onnxruntime-int8-cpu", Path("b/lite0-{target}"), None)
    assert pattern[0].bundle == Path("b/lite0-int8-cpu")
    with pytest.raises(ConfigError, match="unknown benchmark variant 'tflite'; known: \\["):
        parse_compare("tflite", tmp_path, None)
    with pytest.raises(ConfigError, match="needs a bundle"):
        parse_compare("onnxruntime-fp32", None, None)
    # one variant on two bundles: the second one labelled
    pair = parse_compare("onnxruntime-int8-cpu,onnxruntime-int8-cpu@retrained=/r", tmp_path, None)
    assert [(v.name, v.backend, v.target, v.bundle) for v in pair] == [
        ("onnxruntime-int8-cpu", "onnxruntime", "int8-cpu", tmp_path / "int8-cpu"),
        ("onnxruntime-int8-cpu@retrained", "onnxruntime", "int8-cpu", Path("/r"))]
    with pytest.raises(ConfigError, match="twice; to run one variant on two bundles, label one"):
        parse_compare("onnxruntime-fp32,onnxruntime-fp32", tmp_path, None)


def test_macs_of_a_known_conv(tmp_path: Path) -> None:
    from edge_sdk.testing import tiny_classifier_onnx

    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    w = helper.make_tensor("w", tp.FLOAT, [8, 4, 3, 3], np.zeros(288, np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("x", tp.FLOAT, [1, 4, 16, 16])],
        [helper.make_tensor_value_info("y", tp.FLOAT, [1, 8, 16, 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "conv.onnx"))
    assert count_macs(tmp_path / "conv.onnx") == 16 * 16 * 8 * 4 * 3 * 3
    # Gemm [N,1] x [1,2]: 2 MACs per sample
    assert count_macs(tiny_classifier_onnx(tmp_path / "cls.onnx", 16), batch=3) == 6
    assert floor_ms(10**9, 1e12) == pytest.approx(2.0)


def test_macs_after_a_resize_sized_at_run_time(tmp_path: Path) -> None:
    # the last block of an smp U-Net decoder: Resize whose sizes are computed from Shape
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    inits = [helper.make_tensor("start", tp.INT64, [1], [0]),
             helper.make_tensor("end", tp.INT64, [1], [2]),
             helper.make_tensor("hw", tp.INT64, [2], [8, 8]),
             helper.make_tensor("w", tp.FLOAT, [3, 2, 3, 3], np.zeros(54, np.float32).tolist())]
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "start", "end"], ["nc"]),
             helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode="nearest"),
             helper.make_node("Conv", ["up", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")]
    graph = helper.make_graph(nodes, "up", [helper.make_tensor_value_info("x", tp.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", tp.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(tmp_path / "up.onnx"))
    assert count_macs(tmp_path / "up.onnx") == 8 * 8 * 3 * 2 * 3 * 3


def test_macs_of_a_graph_shape_inference_cannot_follow_is_an_error(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    helper, tp = onnx.helper, onnx.TensorProto
    w = helper.make_tensor("w", tp.FLOAT, [8, 4, 3, 3], np.zeros(288, np.float32).tolist())
    nodes = [helper.make_node("QLinearAdd", ["x"] * 8, ["a"], domain="com.microsoft"),
             helper.make_node("Conv", ["a", "w"], ["y"], name="after_contrib_op")]
    graph = helper.make_graph(nodes, "qop", [helper.make_tensor_value_info("x", tp.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", tp.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, str(tmp_path / "qop.onnx"))
    with pytest.raises(ConfigError, match="'after_contrib_op'.*Fix: count the net's fp32 or Q/DQ"):
        count_macs(tmp_path / "qop.onnx")


def test_compare_two_tiny_variants(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    variants = parse_compare("onnxruntime-fp32,openvino-fp32", None, tiny_bundle_dir, threads=1)
    report, runs = run_benchmark(BenchOptions(
        variants=variants, source="synthetic://?fps=0&size=320x240&seed=1", frames=6, warmup=2,
        threads=1, streaming_frames=4, command="test"))
    assert report["schema"] == SCHEMA and report["baseline"] == "onnxruntime-fp32"
    for block in [report] + report["variants"]:
        assert set(block["stages"]) == {"preprocess", "segment", "postprocess", "crop", "classify", "total"}
        assert all(set(s) >= STAGE_KEYS for s in block["stages"].values())
        assert block["throughput_fps"]["sequential"] > 0 and block["throughput_fps"]["streaming"] > 0
        assert 0 <= block["sdk_overhead"]["fraction"] < 1
    assert [v["frames"] for v in report["variants"]] == [6, 6]
    assert report["variants"][0]["ratio_to_baseline"] == {"p50": 1.0, "p99": 1.0, "fps": 1.0}
    assert report["env"]["bundles"]["openvino-fp32"] == report["variants"][0]["bundle_digest"]
    assert report["env"]["jetson"]["nvpmodel"] == "unknown"
    assert "(OpenVINO float ops in f32)" in " ".join(report["variants"][1]["notes"])
    assert report["int8_floor"]["ops_per_second"] > 0
    written = write_outputs(report, runs, tmp_path / "r.json", tmp_path / "r.md", tmp_path / "plots")
    assert json.loads((tmp_path / "r.json").read_text())["variants"][1]["name"] == "openvino-fp32"
    assert "| onnxruntime-fp32 |" in (tmp_path / "r.md").read_text()
    for png in (tmp_path / "plots" / "latency_cdf.png", tmp_path / "plots" / "stages.png"):
        assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "baseline: onnxruntime-fp32" in terminal_table(report)
    assert markdown(report).startswith("# Benchmark")


def test_cli_bench(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "edge-sdk"
    out = subprocess.run(
        [str(script), "bench", "--bundle", str(tiny_bundle_dir), "--frames", "5", "--warmup", "1",
         "--source", "synthetic://?fps=0&size=320x240", "--no-floor", "--no-streaming",
         "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["throughput_fps"]["streaming"] is None and report["int8_floor"] is None
    assert "p50 ms" in out.stdout


def test_fps_counts_intervals_not_frames() -> None:
    """5 results 0.1 s apart span 0.4 s: 4 intervals → 10 fps (not 5 / 0.4 = 12.5)."""
    from edge_sdk.streaming.stats import StreamStats

    stats = StreamStats(processed=5, first_result=100.0, last_result=100.4)
    assert stats.fps == pytest.approx(10.0)


def test_replay_source_streams_the_same_frames(tiny_bundle_dir: Path) -> None:
    """Streaming is measured on the benchmark's frames, replayed without rendering costs."""
    from edge_sdk.bench.measure import ReplaySource, streaming_fps
    from edge_sdk.testing import synthetic_frame

    frames = [synthetic_frame(seed=i) for i in range(3)]
    with ReplaySource(frames, 7) as source:
        got = [frame.pixels for frame in source]
    assert len(got) == 7 and all(np.array_equal(g, frames[i % 3]) for i, g in enumerate(got))
    variants = parse_compare("onnxruntime-fp32", None, tiny_bundle_dir, threads=1)
    [(fps, dropped)] = streaming_fps(variants, frames, 6, rounds=2)
    assert fps > 0 and dropped == 0
