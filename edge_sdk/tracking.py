"""Optional temporal smoothing: match lesions across frames, smooth malignancy, confirm late.

Off by default. Per frame, each lesion is matched to a track of the previous frames by box IoU
(greedy, best first). A track's malignancy is an exponential moving average of its lesions'; a
track is reported only once it has been seen in ``min_frames`` consecutive frames, which hides
one-frame flickers at the price of ``min_frames - 1`` frames of delay. Lesions not yet confirmed
are removed from the result (and from its mask) but counted in ``extras["tracking"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import ConfigError
from edge_sdk.manifest import PipelineParams
from edge_sdk.results import FrameResult, Lesion

Box = tuple[int, int, int, int]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes.

    Example:
        >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
        0.3333333333333333
    """
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """A lesion followed across frames."""

    track_id: int
    box: Box
    malignancy: float
    streak: int = 1
    missed: int = 0


class TemporalSmoother:
    """Smooths a stream of :class:`FrameResult` (use one per stream, frames in order).

    Args:
        params: The bundle's pipeline parameters (decision threshold and class names).
        min_frames: Consecutive frames before a lesion is reported (K).
        alpha: EMA weight of the newest malignancy (1.0: no smoothing).
        iou_threshold: Least IoU for a lesion to continue a track.
        max_missed: Frames a track survives unseen (a blink of the probe) before it is dropped;
            a missed frame resets its streak.

    Example:
        >>> import numpy as np
        >>> from edge_sdk.manifest import PipelineParams
        >>> from edge_sdk.results import FrameResult, Lesion, StageLatency
        >>> mask = np.zeros((50, 50), np.uint8); mask[10:20, 10:20] = 1
        >>> lesion = Lesion((10, 10, 20, 20), (5, 5, 25, 25), 100, 0.9, 0.8, "malignant")
        >>> smoother = TemporalSmoother(PipelineParams(), min_frames=2)
        >>> [len(smoother.update(FrameResult(i, 0.0, mask, [lesion], StageLatency())).lesions)
        ...  for i in range(3)]
        [0, 1, 1]
    """

    def __init__(self, params: PipelineParams, min_frames: int = 3, alpha: float = 0.3,
                 iou_threshold: float = 0.3, max_missed: int = 2) -> None:
        if min_frames < 1 or not 0.0 < alpha <= 1.0 or not 0.0 < iou_threshold <= 1.0 \
                or max_missed < 0:
            raise ConfigError(f"TemporalSmoother: min_frames={min_frames}, alpha={alpha}, "
                              f"iou_threshold={iou_threshold}, max_missed={max_missed}; expected "
                              "min_frames >= 1, 0 < alpha <= 1, 0 < iou_threshold <= 1, "
                              "max_missed >= 0")
        self.params = params
        self.min_frames, self.alpha = min_frames, alpha
        self.iou_threshold, self.max_missed = iou_threshold, max_missed
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget all tracks (e.g. after the frame size changed)."""
        self.tracks = []

    def _match(self, lesions: list[Lesion]) -> list[Track]:
        pairs = sorted(((box_iou(t.box, lesion.bbox), ti, li)
                        for ti, t in enumerate(self.tracks) for li, lesion in enumerate(lesions)),
                       reverse=True)
        used_tracks: set[int] = set()
        assigned: dict[int, Track] = {}
        for iou, ti, li in pairs:
            if iou < self.iou_threshold:
                break
            if ti in used_tracks or li in assigned:
                continue
            used_tracks.add(ti)
            assigned[li] = self.tracks[ti]
        for track_index, track in enumerate(self.tracks):
            if track_index not in used_tracks:
                track.missed += 1
                track.streak = 0
        matched = []
        for li, lesion in enumerate(lesions):
            found = assigned.get(li)
            if found is None:
                track = Track(self._next_id, lesion.bbox, lesion.malignancy)
                self._next_id += 1
                self.tracks.append(track)
            else:
                track = found
                track.box, track.missed = lesion.bbox, 0
                track.streak += 1
                track.malignancy += self.alpha * (lesion.malignancy - track.malignancy)
            matched.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return matched

    def update(self, result: FrameResult) -> FrameResult:
        """Match ``result``'s lesions to tracks; return it with confirmed, smoothed lesions."""
        tracks = self._match(result.lesions)
        keep, ids, pending = [], [], 0
        mask = result.mask
        for lesion, track in zip(result.lesions, tracks):
            if track.streak < self.min_frames:
                pending += 1
                if mask is result.mask:
                    mask = result.mask.copy()
                x0, y0, x1, y1 = lesion.bbox
                mask[y0:y1, x0:x1] = 0
                continue
            score = float(np.clip(track.malignancy, 0.0, 1.0))
            label = (self.params.positive_class if score >= self.params.decision_threshold
                     else self.params.negative_class)
            keep.append(Lesion(bbox=lesion.bbox, crop_box=lesion.crop_box,
                               area_px=lesion.area_px, seg_score=lesion.seg_score,
                               malignancy=score, label=label))
            ids.append(track.track_id)
        if pending:  # a pending box may have cleared pixels of a kept lesion: restore them
            for lesion in keep:
                x0, y0, x1, y1 = lesion.bbox
                mask[y0:y1, x0:x1] = result.mask[y0:y1, x0:x1]
        extras = dict(result.extras, tracking={"track_ids": ids, "pending": pending})
        return result.replace(lesions=keep, mask=mask, extras=extras)
