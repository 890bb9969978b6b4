"""The runtime imports without the heavy frameworks (firmware images will not carry them)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "tensorrt", "onnx", "timm", "segmentation_models_pytorch", "pydicom", "pyigtl",
         "sklearn", "export")


def test_import_edge_sdk_without_heavy_frameworks() -> None:
    code = ("import sys, edge_sdk, edge_sdk.cli, edge_sdk.pipeline; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pipeline_runs_with_torch_blocked(tiny_bundle_dir) -> None:
    # A None entry in sys.modules makes "import torch" fail, as on a device without it.
    code = (
        "import sys\n"
        "for name in ('torch', 'tensorrt', 'onnx'): sys.modules[name] = None\n"
        "import numpy as np, edge_sdk\n"
        f"p = edge_sdk.Pipeline({str(tiny_bundle_dir)!r})\n"
        "print(len(p.process(np.full((64, 64), 170, np.uint8)).lesions))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
