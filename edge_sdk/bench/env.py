"""The environment block of every benchmark report: what machine, what software, what bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edge_sdk.backends.onnxruntime_backend import default_threads
from edge_sdk.sysinfo import UNKNOWN, cpu_model, gpus, jetson_info, package_version
from edge_sdk.thread_budget import thread_budget


def _load_average() -> list[float] | str:
    """1, 5 and 15 minute load averages: how busy the machine was beside the benchmark."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return UNKNOWN


def _run(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def jetson_power(root: Path = Path("/")) -> dict[str, str]:
    """nvpmodel power mode and whether clocks are locked (``jetson_clocks``), else unknown."""
    mode = _run(["nvpmodel", "-q"])
    clocks = _run(["jetson_clocks", "--show"])
    locked = UNKNOWN
    if clocks:
        # jetson_clocks --show prints each CPU's MinFreq/MaxFreq/CurrentFreq; locked => all equal
        freqs = [line for line in clocks.splitlines() if "MinFreq" in line and "MaxFreq" in line]
        if freqs:
            locked = str(all(_min_equals_max(line) for line in freqs)).lower()
    return {"nvpmodel": mode.splitlines()[0] if mode else UNKNOWN, "clocks_locked": locked}


def _min_equals_max(line: str) -> bool:
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    return fields.get("MinFreq") == fields.get("MaxFreq") is not None


def environment(threads: int | None, bundles: dict[str, str]) -> dict[str, Any]:
    """The environment block: CPU, threads, GPU and driver, packages, bundle digests, Jetson."""
    usable = default_threads()
    jetson = jetson_info()
    return {
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable},
        "threads": threads or usable,
        "thread_budget": thread_budget(threads).describe(),
        "load_average": _load_average(),
        "gpus": gpus() or UNKNOWN,
        "packages": {name: package_version(name) or "not installed" for name in (
            "edge-sdk", "numpy", "opencv-python-headless", "onnxruntime", "onnxruntime-gpu",
            "openvino", "torch", "tensorrt")},
        "bundles": bundles,
        "jetson": ({**jetson, **jetson_power()} if jetson else
                   {"model": UNKNOWN, "l4t": UNKNOWN, "nvpmodel": UNKNOWN,
                    "clocks_locked": UNKNOWN}),
        "noisy_environment_vars": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS")
                                   if k in os.environ},
    }
