"""ONNX Runtime's per-node profile of a bundle's net, summed by operator type.

    python benchmarks/ort_profile.py BUNDLE [--role segmenter] [--runs 20] [--threads 1]

Says where a net's time goes (e.g. why an INT8 pipeline sits above the compute floor).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_sdk import load_bundle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--role", default="segmenter", choices=("segmenter", "classifier"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    bundle = load_bundle(args.bundle)
    spec = bundle.manifest.models[args.role]
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    options.intra_op_num_threads = args.threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(bundle.model_path(args.role)), options,
                                   providers=["CPUExecutionProvider"])
    shape = [d if d > 0 else 1 for d in spec.input.shape]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(3 + args.runs):
        session.run(None, {spec.input.name: x})
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = collections.defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / 1000.0
    total = sum(by_op.values())
    runs = 3 + args.runs
    print(f"{args.bundle} {args.role} ({spec.precision}), {args.threads} thread(s), "
          f"mean kernel time per run {total / runs:.2f} ms")
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {op:28s} {ms / runs:8.2f} ms  {100 * ms / total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
