"""What a frame with no lesion should score: 0, or the classifier's score of its peak area.

    python benchmarks/no_lesion_score.py [--bundle DIR] --data DIR [--data DIR ...]
        [--split val] [--json OUT]

Runs every image of the split once per ``no_lesion_score`` setting (``zero``, ``peak_region``)
through ``edge_sdk.evaluate`` and reports AUC, sensitivity and specificity per dataset, with
how many lesion images had no region kept (the frames the setting changes). Dice and the
normal-frame rate cannot change: no lesion is reported either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from edge_sdk.bundle import default_bundle_path
from edge_sdk.dataset import load_samples, read_gray
from edge_sdk.evaluate import evaluate
from edge_sdk.manifest import NO_LESION_SCORES
from edge_sdk.pipeline import Pipeline


def measure(bundle: Path, datasets: list[Path], split: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with Pipeline(bundle, threads=1) as pipeline:
        base = pipeline.params
        for root in datasets:
            samples = load_samples(root, split)
            lesions = [s for s in samples if s.label != "normal"]
            pipeline.params = dataclasses.replace(base, no_lesion_score="zero")
            missed = [s for s in lesions if not pipeline.process(read_gray(s.image_path)).lesions]
            row: dict = {"images": len(samples), "lesion_images_without_region": len(missed),
                         "of_them_malignant": sum(s.label == "malignant" for s in missed)}
            for mode in NO_LESION_SCORES:
                pipeline.params = dataclasses.replace(base, no_lesion_score=mode)
                report = evaluate(pipeline, samples, progress=False)
                row[mode] = {k: report[k] for k in ("auc", "sensitivity", "specificity",
                                                     "dice", "normal_fp_rate")}
            out[root.name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=default_bundle_path())
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {"bundle": str(args.bundle), "split": args.split,
              "datasets": measure(args.bundle, args.data, args.split)}
    for name, row in result["datasets"].items():
        print(f"{name}: {row['lesion_images_without_region']} lesion images without a region "
              f"({row['of_them_malignant']} malignant); AUC zero {row['zero']['auc']:.4f}, "
              f"peak_region {row['peak_region']['auc']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
