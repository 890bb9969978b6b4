""".ci/check_skips.py: CI accepts a skip only for hardware the machine lacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[1] / ".ci" / "check_skips.py"
SUMMARY = "=========== 470 passed, {n} skipped in 312.40s (0:05:12) ===========\n"


def _check(tmp_path: Path, skips: list[str]) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "pytest.log"
    log.write_text("....s.s\n===== short test summary info =====\n" + "".join(
        f"SKIPPED [1] {line}\n" for line in skips) + SUMMARY.format(n=len(skips)),
        encoding="utf-8")
    return subprocess.run([sys.executable, str(CHECK), str(log)], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize(("skip", "accepted"), [
    ("tests/backends/test_tensorrt_backend.py:31: no usable CUDA GPU: cudaErrorNoDevice", True),
    ("tests/test_cli.py:142: TensorRT is usable here; the GPU test builds real engines", True),
    ("tests/sources/test_v4l2.py:69: no /dev/video* device on this machine", True),
    ("tests/tensorrt/test_cuda.py:69: cuda-python is not installed", True),
    ("tests/sources/test_gst.py:70: GStreamer: PyGObject is here but not the Gst/GstApp "
     "namespaces (Namespace Gst not available). Fix: sudo apt-get install ...", False),
    ("tests/export/test_models.py:7: could not import 'torch': No module named 'torch'", False),
    ("tests/conftest.py:38: BUSI dataset not found at ../shared/data/busi", False),
    ("tests/sources/contract.py:56: a live source streams until closed", False),
])
def test_only_missing_hardware_may_skip(tmp_path: Path, skip: str, accepted: bool) -> None:
    out = _check(tmp_path, [skip])
    assert out.returncode == (0 if accepted else 1), out.stdout + out.stderr
    assert skip.split(": ", 1)[1] in out.stdout  # every reason is printed either way


def test_no_skips_pass_and_a_log_without_a_summary_fails(tmp_path: Path) -> None:
    assert _check(tmp_path, []).returncode == 0
    log = tmp_path / "cut.log"
    log.write_text("....F\nTraceback (most recent call last):\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(CHECK), str(log)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 2 and "no pytest summary" in out.stderr
