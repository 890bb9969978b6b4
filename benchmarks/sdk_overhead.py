"""Per-stage latency of the pipeline with the tiny test models: the SDK's own overhead.

    python benchmarks/sdk_overhead.py [--frames 300] [--size 600x800] [--threads N]

The tiny nets cost almost nothing, so what this measures is preprocessing, post-processing
(threshold and connected components on the net's map, frame pixels inside each region's box),
cropping and the backend call overhead. Warm-up frames are excluded.
"""

from __future__ import annotations

import argparse
import tempfile

from edge_sdk import Pipeline
from edge_sdk.testing import make_tiny_bundle, synthetic_frame
from edge_sdk.timing import format_table, summarize


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--size", default="600x800", help="frame HxW")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    bundle = make_tiny_bundle(tempfile.mkdtemp(), seg_size=256, cls_size=224)
    frames = [synthetic_frame(height, width, lesions=[(width // 3, height // 2, width // 10, height // 12),
                                                      (2 * width // 3, height // 2, width // 12, height // 10)],
                              seed=i) for i in range(8)]
    options = {"threads": args.threads} if args.threads else {}
    latencies = []
    with Pipeline(bundle, backend_options=options) as pipeline:
        for i in range(args.warmup + args.frames):
            result = pipeline.process(frames[i % len(frames)])
            if i >= args.warmup:
                latencies.append(result.latency_ms)
    print(f"{args.frames} frames of {height}x{width}, 2 lesions each, tiny nets "
          f"(segmenter 256x256, classifier 224x224)")
    print(format_table(summarize(latencies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
