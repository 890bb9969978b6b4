"""Where a bundle's Dice is lost: the segmenter, or the post-processing after it.

    python benchmarks/dice_profile.py [--bundle DIR] --data DIR [--split test] [--json OUT]

Runs every lesion image of the split through the pipeline twice: with the bundle's own
parameters, and with every region above the segmentation threshold kept (no minimum area, no
peak gate, the most lesions a manifest allows). The second Dice is the most any region choice
can reach with these nets; the distribution of the first says whether it is lost on a few
missed lesions or spread over all of them. Normal frames are counted as flagged or not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from edge_sdk.bundle import default_bundle_path
from edge_sdk.dataset import load_samples, read_gray, read_mask
from edge_sdk.manifest import MAX_LESIONS
from edge_sdk.metrics import dice_iou
from edge_sdk.pipeline import Pipeline


def profile(bundle: Path, data: Path, split: str) -> dict:
    samples = load_samples(data, split)
    with Pipeline(bundle, threads=1) as pipeline:
        own = pipeline.params
        every = dataclasses.replace(own, min_lesion_area_fraction=0.0, min_lesion_peak=0.0,
                                    max_lesions=MAX_LESIONS)
        rows: dict[str, list[float]] = {"bundle": [], "every_region": []}
        flagged = {"bundle": 0, "every_region": 0}
        for sample in samples:
            image = read_gray(sample.image_path)
            truth = None if sample.label == "normal" else read_mask(sample.mask_path)
            for name, params in (("bundle", own), ("every_region", every)):
                pipeline.params = params
                result = pipeline.process(image)
                if truth is None:
                    flagged[name] += bool(result.lesions)
                else:
                    rows[name].append(dice_iou(result.mask, truth)[0])
    normals = sum(s.label == "normal" for s in samples)
    report: dict = {"data": str(data), "split": split, "lesion_images": len(rows["bundle"]),
                    "normal_images": normals}
    for name, dice in rows.items():
        values = np.asarray(dice)
        report[name] = {
            "dice": float(values.mean()),
            "below_0.05": int((values < 0.05).sum()),
            "below_0.5": int((values < 0.5).sum()),
            "mean_of_the_rest": float(values[values >= 0.5].mean()) if (values >= 0.5).any()
            else None,
            "normal_frames_flagged": flagged[name],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=default_bundle_path())
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = profile(args.bundle, args.data, args.split)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
