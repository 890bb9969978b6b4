"""Run one frame through a bundle from Python and print what the pipeline found.

    python examples/01_python_api.py [BUNDLE_DIR]

Without an argument it writes the tiny test bundle (real ONNX models, not medical ones) to a
temporary folder first.
"""

from __future__ import annotations

import sys
import tempfile

from edge_sdk import Pipeline
from edge_sdk.testing import make_tiny_bundle, synthetic_frame


def main(argv: list[str]) -> int:
    bundle = argv[1] if len(argv) > 1 else make_tiny_bundle(tempfile.mkdtemp()).root
    frame = synthetic_frame(480, 640, lesions=[(320, 240, 60, 40)])  # uint8 HxW, or HxWx3 BGR
    with Pipeline(bundle) as pipeline:
        result = pipeline.process(frame)
    for lesion in result.lesions:
        print(f"lesion at {lesion.bbox}: {lesion.label} (malignancy {lesion.malignancy:.2f})")
    print(f"total {result.latency_ms.total:.2f} ms", result.latency_ms.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
