"""Type-check the TensorRT and CUDA modules against the TensorRT 10.13 type stubs.

TensorRT cannot be installed on machines without NVIDIA's package index, but its type stubs
(`tensorrt-stubs`) can: mypy then checks every TensorRT class, method, enum and signature the
SDK uses against the real API. The stubs (10.13.0.35.1) have three defects that stop mypy before
it reads our code — a parameter named ``in``, a non-default parameter after defaults in
``add_scale_nd``, and an import of the absent ``tensorrt_libs`` — so the test checks against a
patched copy; errors inside the stubs themselves are not ours and are silenced.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED = ["edge_sdk"]  # the whole runtime; the TensorRT modules are what the stubs check
TENSORRT_MODULES = [
    "edge_sdk/tensorrt/compat.py",
    "edge_sdk/tensorrt/cuda.py",
    "edge_sdk/tensorrt/build.py",
    "edge_sdk/tensorrt/cache.py",
    "edge_sdk/backends/tensorrt_backend.py",
]

# pyproject's list of packages that ship no type information, so both checks ignore the same ones
_UNTYPED = re.search(r"# packages that ship no type information\nmodule = \[(.*?)\]",
                     (REPO / "pyproject.toml").read_text(encoding="utf-8"), flags=re.DOTALL)
UNTYPED = ",".join(re.findall(r'"([^"]+)"', _UNTYPED.group(1) if _UNTYPED else ""))
CONFIG = f"""\
[mypy]
python_version = 3.10
check_untyped_defs = True
warn_unused_ignores = True
[mypy-{UNTYPED}]
ignore_missing_imports = True
[mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*,tensorrt_libs]
follow_imports = silent
ignore_missing_imports = True
ignore_errors = True
"""


def _stub_root() -> Path:
    try:
        dist = importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        message = "tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs it as the README says")
        pytest.skip(message)
    init = next(f for f in dist.files or [] if str(f).replace("\\", "/") == "tensorrt/__init__.pyi")
    return Path(dist.locate_file(init)).parent.parent


def _patched_stubs(target: Path) -> Path:
    root = _stub_root()
    for package in ("tensorrt", "tensorrt_bindings"):
        shutil.copytree(root / package, target / package,
                        ignore=lambda _d, names: [n for n in names if not n.endswith(".pyi")])
    init = target / "tensorrt" / "__init__.pyi"
    init.write_text(init.read_text().replace("import tensorrt_libs as tensorrt_libs\n", ""))
    bindings = target / "tensorrt_bindings" / "tensorrt.pyi"
    text = re.sub(r"([(,] )in: ", r"\1in_: ", bindings.read_text())
    text = text.replace("channel_axis: int) -> IScaleLayer", "channel_axis: int = ...) -> IScaleLayer")
    bindings.write_text(text)
    return target


def test_runtime_type_checks_and_tensorrt_code_matches_the_tensorrt_api(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    stubs = _patched_stubs(tmp_path / "stubs")
    config = tmp_path / "mypy.ini"
    config.write_text(CONFIG)
    env = {**os.environ, "MYPYPATH": str(stubs)}
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--follow-imports=silent",
         "--no-incremental", *CHECKED],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert all((REPO / module).is_file() for module in TENSORRT_MODULES)


def test_the_check_catches_a_wrong_call(tmp_path: Path) -> None:
    """Guard against a silently vacuous check: a misspelt TensorRT method must be reported."""
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    stubs = _patched_stubs(tmp_path / "stubs")
    config = tmp_path / "mypy.ini"
    config.write_text(CONFIG)
    probe = tmp_path / "probe.py"
    probe.write_text("import tensorrt as trt\n"
                     "def f(config: trt.IBuilderConfig) -> None:\n"
                     "    config.set_flagg(trt.BuilderFlag.FP16)\n")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental", str(probe)],
        env={**os.environ, "MYPYPATH": str(stubs)}, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 1 and "has no attribute \"set_flagg\"" in out.stdout
