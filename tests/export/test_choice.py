"""Which conversion a bundle build keeps: the fastest faithful one, near-ties by order."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from export.build import TIE_MARGIN, pick_fastest

ORDER = ["fp32", "int8-qdq", "int8-qop"]


def test_clear_winner_is_kept() -> None:
    # the first default's (d87bced) Lite0 segmenter build: QOperator clearly faster
    assert pick_fastest(ORDER, {"fp32": 20.98, "int8-qdq": 13.94, "int8-qop": 10.19}) == "int8-qop"


def test_near_tie_goes_to_the_earlier_candidate() -> None:
    # the shipped segmenter: QDQ and QOperator within noise -> QDQ (read by OpenVINO too)
    assert pick_fastest(ORDER, {"fp32": 15.62, "int8-qdq": 9.32, "int8-qop": 9.20}) == "int8-qdq"
    # INT8 no faster than fp32 (MobileNetV3-Small): fp32
    assert pick_fastest(ORDER, {"fp32": 0.62, "int8-qdq": 0.82, "int8-qop": 0.80}) == "fp32"
    assert pick_fastest(ORDER, {"fp32": 1.0 + TIE_MARGIN, "int8-qdq": 2.0, "int8-qop": 1.0}) == "fp32"


def test_only_the_given_candidates_compete() -> None:
    assert pick_fastest(["fp32"], {"fp32": 5.0, "int8-qop": 1.0}) == "fp32"
    assert pick_fastest(ORDER, {"fp32": 9.0, "int8-qdq": 9.0, "int8-qop": 9.0}, margin=0.0) == "fp32"
