"""The accuracy gate: passes within the allowed drop, fails naming the metric and the drop."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from export.cli import main
from export.errors import GateError
from export.gate import compare

REF = {"dice": 0.80, "auc": 0.90}


@pytest.mark.parametrize(
    ("converted", "max_drop", "failing"),
    [
        ({"dice": 0.80, "auc": 0.90}, 0.01, None),
        ({"dice": 0.795, "auc": 0.905}, 0.01, None),  # a gain is never a failure
        ({"dice": 0.78, "auc": 0.90}, 0.01, "dice dropped by 0.0200"),
        ({"dice": 0.80, "auc": 0.85}, 0.01, "auc dropped by 0.0500"),
        ({"dice": 0.78, "auc": 0.90}, 0.05, None),  # configurable
        ({"dice": 0.80, "auc": 0.90}, -0.001, "dice dropped by 0.0000"),  # forced failure
    ],
)
def test_compare_table(converted: dict, max_drop: float, failing: str | None) -> None:
    if failing is None:
        result = compare(REF, converted, max_drop)
        assert result["passed"] and set(result["metrics"]) == {"dice", "auc"}
    else:
        with pytest.raises(GateError, match=failing) as info:
            compare(REF, converted, max_drop)
        assert info.value.result["passed"] is False
        assert set(info.value.result["metrics"]) == {"dice", "auc"}


def test_undefined_metric_is_an_error() -> None:
    with pytest.raises(GateError, match="undefined"):
        compare({"dice": 0.8, "auc": None}, {"dice": 0.8, "auc": 0.9})


def test_gate_command_exits_non_zero_when_forced(tiny_bundle_dir: Path, synthetic_busi: Path,
                                                 tmp_path: Path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_bundle_dir, other)
    args = ["gate", str(other), "--reference", str(tiny_bundle_dir), "--data",
            str(synthetic_busi), "--threads", "1"]
    assert main(args) == 0
    assert main(args + ["--max-drop", "-1"]) == 3
    assert "accuracy gate failed: dice dropped by" in capsys.readouterr().err


def test_report_table_quotes_eval_json(tmp_path: Path, capsys) -> None:
    import json

    report = {"dice": 0.7712, "iou": 0.66, "auc": 0.93, "sensitivity": 0.9, "specificity": 0.8,
              "normal_fp_rate": 0.1, "latency_ms": {"total": 31.4}, "n_images": 116,
              "bundle_digest": "ab" * 32}
    (tmp_path / "e.json").write_text(json.dumps(report))
    assert main(["report", f"int8={tmp_path / 'e.json'}"]) == 0
    assert "| int8 | 0.771 | 0.660 | 0.930 |" in capsys.readouterr().out
