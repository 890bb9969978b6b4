"""Calibration data for INT8: real training frames (or crops) through the runtime's code.

Yields ``{input_name: 1×C×H×W float32}``, the form ``onnxruntime.quantization`` reads (via
:class:`export.quantize.IterableReader`) and any other calibrator can adapt to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from edge_sdk.manifest import InputSpec, PipelineParams
from edge_sdk.preprocess import to_input
from edge_sdk.roi import crop_lesion, expand_box
from export.data import Frame, gt_crops, predicted_crops

# At most this many samples: on BUSI, all 547 train frames and all ~950 train crops. Measured
# on the Lite0 segmenter: MinMax on 256 frames cost 0.011 val AUC end to end (gate failed),
# on all 547 frames 0.004.
DEFAULT_CALIBRATION_SAMPLES = 1024


def segmenter_calibration(frames: Sequence[Frame], spec: InputSpec, n: int = 200,
                          seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """``n`` frames (sampled without replacement, seeded) through ``to_input``."""
    order = np.random.default_rng(seed).permutation(len(frames))[:n]
    for i in order:
        yield {spec.name: to_input(frames[int(i)].image, spec)[None]}


def classifier_calibration(frames: Sequence[Frame], spec: InputSpec,
                           params: PipelineParams = PipelineParams(), n: int = 200,
                           prob_maps: Sequence[np.ndarray] | None = None,
                           seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """``n`` lesion crops (ground truth, plus segmenter regions if ``prob_maps``) via crop_lesion."""
    crops = gt_crops(frames, params)
    if prob_maps is not None:
        crops += predicted_crops(frames, prob_maps, params)
    order = np.random.default_rng(seed).permutation(len(crops))[:n]
    for i in order:
        crop = crops[int(i)]
        image = frames[crop.frame].image
        box = expand_box(crop.bbox, params.roi_margin, image.shape[:2])
        yield {spec.name: crop_lesion(image, box, spec)[None]}
