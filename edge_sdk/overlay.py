"""Draw a FrameResult on its frame: mask contour, boxes, label, score and latency."""

from __future__ import annotations

import cv2
import numpy as np

from edge_sdk.results import FrameResult

_MALIGNANT = (40, 40, 230)  # BGR red
_BENIGN = (60, 200, 60)  # BGR green
_TEXT = (255, 255, 255)


def draw_overlay(frame: np.ndarray, result: FrameResult, positive_class: str = "malignant") -> np.ndarray:
    """Return a BGR copy of ``frame`` with the result drawn on it."""
    canvas = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    contours, _ = cv2.findContours(result.mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, (0, 255, 255), 1)
    scale = max(0.4, min(canvas.shape[:2]) / 800)
    for lesion in result.lesions:
        color = _MALIGNANT if lesion.label == positive_class else _BENIGN
        x0, y0, x1, y1 = lesion.bbox
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), color, 2)
        text = f"{lesion.label} {lesion.malignancy:.2f}"
        cv2.putText(canvas, text, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1,
                    cv2.LINE_AA)
    status = f"#{result.frame_index}  {result.latency_ms.total:.1f} ms"
    if not result.lesions:
        status += "  no lesion"
    cv2.putText(canvas, status, (6, canvas.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, 1,
                cv2.LINE_AA)
    return canvas
