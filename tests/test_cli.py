"""The edge-sdk command, run as a subprocess like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge_sdk.testing import synthetic_frame
from tests.test_evaluate import EXPECTED_KEYS, write_dataset

SCRIPT = Path(sys.executable).parent / "edge-sdk"


def edge_sdk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "edge_sdk"]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture()
def frames_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        lesions = [(100 + 30 * i, 120, 30, 20)] if i != 2 else []
        cv2.imwrite(str(folder / f"f{i}.png"), synthetic_frame(lesions=lesions, seed=i))
    return folder


def test_info() -> None:
    out = edge_sdk("info")
    assert out.returncode == 0, out.stderr
    assert "onnxruntime providers:" in out.stdout and "CPUExecutionProvider" in out.stdout
    assert "threads:   segmenter " in out.stdout and "no spinning" in out.stdout
    info = json.loads(edge_sdk("info", "--json").stdout)
    assert info["thread_budget"]["classifier"]["spinning"] is False
    assert info["packages"]["onnxruntime"] and "cpu" in info and "jetson" in info


def test_run_image_folder(frames_dir: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    video, jsonl = tmp_path / "out.mp4", tmp_path / "results.jsonl"
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tiny_bundle_dir),
                   "--save", str(video), "--jsonl", str(jsonl))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [len(r["lesions"]) for r in lines] == [1, 1, 0, 1]
    assert lines[0]["source"] == "f0.png" and "total" in lines[0]["latency_ms"]
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()
    assert "processed 4 frame(s), failed 0" in out.stderr


def test_run_video_max_frames(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "scan.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    for i in range(6):
        writer.write(synthetic_frame(lesions=[(120 + 10 * i, 120, 30, 20)], seed=i, color=True))
    writer.release()
    jsonl = tmp_path / "r.jsonl"
    out = edge_sdk("run", "--source", str(video), "--bundle", str(tiny_bundle_dir),
                   "--jsonl", str(jsonl), "--max-frames", "4")
    assert out.returncode == 0, out.stderr
    assert len(jsonl.read_text().splitlines()) == 4


def test_run_counts_unreadable_frames(frames_dir: Path, tiny_bundle_dir: Path) -> None:
    (frames_dir / "zz_broken.png").write_bytes(b"not an image")
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tiny_bundle_dir))
    assert out.returncode == 1
    assert "processed 4 frame(s), failed 1" in out.stderr and "zz_broken.png" in out.stderr


def test_eval_json(tmp_path: Path, tiny_bundle_dir: Path) -> None:
    data = write_dataset(tmp_path / "data")
    report_path = tmp_path / "report.json"
    out = edge_sdk("eval", "--data", str(data), "--split", "test", "--bundle", str(tiny_bundle_dir),
                   "--json", str(report_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(report_path.read_text())
    assert set(report) >= EXPECTED_KEYS and report["split"] == "test"
    for metric in ("dice", "auc"):  # bootstrap intervals of the point estimates
        interval = report["ci95"][metric]
        assert interval is None or 0.0 <= interval[0] <= interval[1] <= 1.0


@pytest.mark.busi
def test_eval_on_busi(busi: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "busi.json"
    out = edge_sdk("eval", "--data", str(busi), "--split", "test", "--bundle", str(tiny_bundle_dir),
                   "--json", str(report_path), "--no-progress")
    assert out.returncode == 0, out.stderr
    report = json.loads(report_path.read_text())
    assert set(report) >= EXPECTED_KEYS
    assert (report["n_benign"], report["n_malignant"], report["n_normal"]) == (65, 32, 19)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "the following arguments are required: command"),
        (["fly"], 2, "invalid choice: 'fly'"),
        (["run"], 2, "the following arguments are required: --source"),
        (["run", "--source", "x", "--max-frames", "0"], 2, "expected an integer >= 1"),
        (["run", "--source", "/nonexistent", "--bundle", "/nonexistent"], 1, "does not exist"),
        (["eval", "--data", "/nonexistent", "--bundle", "/nonexistent"], 1, "labels.csv is missing"),
    ],
)
def test_bad_arguments_one_line(args: list[str], code: int, message: str) -> None:
    out = edge_sdk(*args)
    assert out.returncode == code
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_bad_source_and_save(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    out = edge_sdk("run", "--source", str(tmp_path / "nope.png"), "--bundle", str(tiny_bundle_dir))
    assert out.returncode == 1 and "does not exist" in out.stderr
    out = edge_sdk("run", "--source", str(tmp_path), "--bundle", str(tiny_bundle_dir),
                   "--save", str(tmp_path / "x.txt"))
    assert out.returncode == 1 and "--save" in out.stderr


def test_bad_bundle_one_line(frames_dir: Path, tmp_path: Path) -> None:
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tmp_path / "none"))
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and "is not a directory" in out.stderr


def test_info_says_what_auto_picks() -> None:
    out = edge_sdk("info")
    assert "backend=auto picks: " in out.stdout and " because " in out.stdout


def test_build_engine_without_tensorrt_names_the_extra(tiny_bundle_dir: Path) -> None:
    pytest.importorskip("pytest")
    from edge_sdk.tensorrt.compat import tensorrt_problem

    if tensorrt_problem() is None:
        pytest.skip("TensorRT is usable here; the GPU test builds real engines")
    out = edge_sdk("build-engine", "--bundle", str(tiny_bundle_dir))
    assert out.returncode == 1
    assert "pip install 'edge-sdk[tensorrt]'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_backend_options(frames_dir: Path, tiny_bundle_dir: Path) -> None:
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tiny_bundle_dir),
                   "--option", "threads=1")
    assert out.returncode == 0, out.stderr
    assert "threads: segmenter 1 thread, classifier 1 thread, no spinning" in out.stderr
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tiny_bundle_dir),
                   "--option", "colour=red")
    assert out.returncode == 1 and "unknown option(s) ['colour']; accepted: ['threads', 'providers', 'spinning']" in out.stderr
    out = edge_sdk("run", "--source", str(frames_dir), "--bundle", str(tiny_bundle_dir), "--backend", "tf")
    assert out.returncode == 1 and "known backends" in out.stderr


@pytest.mark.parametrize("command", [[], ["info"], ["run"], ["eval"], ["build-engine"]])
def test_help(command: list[str]) -> None:
    out = edge_sdk(*command, "--help")
    assert out.returncode == 0 and "usage: edge-sdk" in out.stdout


def test_no_tta_turns_the_mirror_passes_off(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    import argparse
    import dataclasses
    import shutil

    from edge_sdk import load_bundle, write_bundle_manifest
    from edge_sdk.cli.common import add_backend_args, open_pipeline

    root = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "tta"))
    manifest = load_bundle(root).manifest
    write_bundle_manifest(root, dataclasses.replace(manifest, pipeline=dataclasses.replace(
        manifest.pipeline, segmenter_hflip=True, classifier_hflip=True)))
    parser = argparse.ArgumentParser()
    add_backend_args(parser)
    for flags, expected in (([], True), (["--no-tta"], False)):
        args = parser.parse_args(["--bundle", str(root), *flags])
        with open_pipeline(args) as pipeline:
            assert pipeline.params.segmenter_hflip is pipeline.params.classifier_hflip is expected
