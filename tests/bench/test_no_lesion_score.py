"""benchmarks/no_lesion_score.py on the tiny bundle and a synthetic dataset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.test_evaluate import write_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "no_lesion_score.py"


def test_both_settings_are_reported_per_dataset(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("no_lesion_score", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = write_dataset(tmp_path / "synthetic")
    result = module.measure(tiny_bundle_dir, [root], "test")
    row = result["synthetic"]
    assert row["images"] == 3 and set(row) >= {"zero", "peak_region"}
    assert row["zero"]["dice"] == row["peak_region"]["dice"]  # no lesion is ever added
    assert row["zero"]["normal_fp_rate"] == row["peak_region"]["normal_fp_rate"]
