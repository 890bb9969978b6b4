"""What this machine is: package versions, execution providers, CPU, GPU and Jetson facts."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None (without importing it)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or UNKNOWN


def gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs reported by ``nvidia-smi`` (name, driver, memory); empty without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    keys = ("name", "driver", "memory", "compute_capability")
    return [dict(zip(keys, (f.strip() for f in line.split(",")))) for line in out.splitlines()
            if line.strip()]


def jetson_info(root: Path = Path("/")) -> dict[str, str] | None:
    """Board model and L4T release on an NVIDIA Jetson, None elsewhere.

    Reads ``/proc/device-tree/model`` and ``/etc/nv_tegra_release``; ``root`` lets tests point
    at a fake filesystem.
    """
    model_file = root / "proc/device-tree/model"
    release_file = root / "etc/nv_tegra_release"
    if not model_file.exists() and not release_file.exists():
        return None
    info = {"model": UNKNOWN, "l4t": UNKNOWN}
    if model_file.exists():
        info["model"] = model_file.read_bytes().rstrip(b"\x00\n").decode(errors="replace")
    if release_file.exists():
        # e.g. "# R36 (release), REVISION: 4.0, GCID: ..." -> "R36.4.0"
        first = release_file.read_text(errors="replace").splitlines()[0]
        parts = [p.strip() for p in first.lstrip("# ").split(",")]
        major = parts[0].split()[0] if parts and parts[0] else ""
        revision = next((p.split(":", 1)[1].strip() for p in parts if p.startswith("REVISION")), "")
        info["l4t"] = f"{major}.{revision}" if major and revision else first.strip()
    return info


def system_info() -> dict[str, Any]:
    """Everything ``edge-sdk info`` prints, as a dict."""
    from edge_sdk import __version__
    from edge_sdk.backends import BACKENDS
    from edge_sdk.backends.onnxruntime_backend import default_threads

    providers: list[str] | str
    try:
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    except ImportError as exc:
        providers = f"onnxruntime not importable: {exc}"
    from edge_sdk.thread_budget import thread_budget

    threads = default_threads()
    return {
        "edge_sdk": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in (
            "numpy", "opencv-python-headless", "onnxruntime", "onnxruntime-gpu", "onnx", "torch",
            "tensorrt", "cuda-python", "cuda-bindings")},
        "backends": sorted(BACKENDS),
        "execution_providers": providers,
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "usable_cores": threads},
        "thread_budget": {**thread_budget().to_dict(), "text": thread_budget().describe()},
        "gpus": gpus(),
        "jetson": jetson_info(),
        "cuda_python": cuda_python_status(),
        "auto_backend": _auto_backend(providers if isinstance(providers, list) else []),
    }


def cuda_python_status() -> str:
    """CUDA device 0 as cuda-python sees it, or the binding's own error text (e.g. a driver too
    old for cuda-python 13), which ``nvidia-smi`` alone would not reveal."""
    from edge_sdk.tensorrt.cuda import cuda_problem, device_properties

    problem = cuda_problem(0)
    if problem:
        return problem
    props = device_properties(0)
    return f"{props['name']} (compute capability {props['compute_capability']})"


def _auto_backend(providers: list[str]) -> dict[str, Any]:
    from edge_sdk.backends.auto import choose_backend

    choice = choose_backend("auto", ort_providers=providers)
    return {"kind": choice.kind, "options": choice.options, "reason": choice.reason}
