from __future__ import annotations

from pathlib import Path

from edge_sdk.sysinfo import jetson_info, system_info


def test_jetson_info_from_files(tmp_path: Path) -> None:
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    (tmp_path / "etc/nv_tegra_release").write_text(
        "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64\n")
    assert jetson_info(tmp_path) == {"model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "R36.4.0"}


def test_not_a_jetson(tmp_path: Path) -> None:
    assert jetson_info(tmp_path) is None


def test_system_info_keys() -> None:
    info = system_info()
    assert {"edge_sdk", "packages", "backends", "execution_providers", "cpu", "gpus", "jetson"} <= set(info)
    assert "onnxruntime" in info["backends"]
