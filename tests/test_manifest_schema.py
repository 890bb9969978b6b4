"""The published JSON Schema of the manifest (docs/manifest.schema.json) accepts the shipped
bundle and every manifest the toolchain writes, and refuses what the runtime refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_sdk.bundle import MANIFEST_NAME, default_bundle_path, load_bundle

jsonschema = pytest.importorskip("jsonschema", reason="the schema check needs jsonschema (dev)")

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "manifest.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_bundle_is_valid(validator) -> None:
    data = json.loads((default_bundle_path() / MANIFEST_NAME).read_text())
    assert not [e.message for e in validator.iter_errors(data)]


def test_a_written_bundle_is_valid(validator, tiny_bundle_dir: Path) -> None:
    data = load_bundle(tiny_bundle_dir).manifest.to_dict()
    assert not [e.message for e in validator.iter_errors(json.loads(json.dumps(data)))]


@pytest.mark.parametrize("change", [
    lambda d: d.pop("pipeline"),
    lambda d: d["pipeline"].update(max_lesions=2.5),
    lambda d: d["pipeline"].update(decision_threshold=1.5),
    lambda d: d.update(extra=1),
    lambda d: d["models"]["classifier"]["input"]["normalization"].update(std=[-1.0]),
    lambda d: d["models"]["classifier"]["input"].update(shape=[1, 1, "160", 160]),
    lambda d: d.update(schema_version=True),
    lambda d: d["pipeline"].update(class_names="benign,malignant"),
    lambda d: d["pipeline"].update(min_lesion_peak=1.5),
])
def test_what_the_runtime_refuses_the_schema_refuses(validator, change) -> None:
    data = json.loads((default_bundle_path() / MANIFEST_NAME).read_text())
    change(data)
    assert list(validator.iter_errors(data))
