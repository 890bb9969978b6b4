"""Fuzzed manifests: a valid manifest with one to three fields replaced, removed or added, and
raw bytes. Either the manifest loads (and then the published JSON Schema accepts it and it
round-trips) or it is refused with one BundleError line with a fix; nothing else, ever."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edge_sdk.errors import BundleError
from edge_sdk.jsoncheck import load_json
from edge_sdk.manifest import Manifest
from edge_sdk.testing import make_tiny_bundle
from tests.fuzz.conftest import SEEN, fuzz_settings

jsonschema = pytest.importorskip("jsonschema", reason="the schema check needs jsonschema (dev)")

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "manifest.schema.json")
                    .read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["gray", "rgb", "int8", "fp32", "malignant", "benign", "torch", "onnx",
                       "lesion_probability", "malignancy_logit", "0" * 64, "a.onnx", "\x00"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def base_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bundle = make_tiny_bundle(tmp_path_factory.mktemp("fuzz_bundle"))
    data = bundle.manifest.to_dict()
    data["models"]["segmenter"]["artifacts"] = [
        {"kind": "onnx", "file": "seg.fp16.onnx", "sha256": "1" * 64,
         "meta": {"target": "fp16", "precision": "fp16"}}]
    data["provenance"] = {"parent": {"name": "x", "digest": "2" * 64}, "tools": {"onnx": "1"}}
    return json.loads(json.dumps(data))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[str, int, Any]]:
    return draw(st.lists(st.tuples(st.sampled_from(["replace", "delete", "add"]),
                                   st.integers(0, 10_000), json_values), min_size=1, max_size=3))


def _mutate(data: dict[str, Any], steps: list[tuple[str, int, Any]]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for action, pick, value in steps:
        paths = [p for p in _paths(data) if p]
        path = paths[pick % len(paths)]
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if action == "replace":
            parent[path[-1]] = value
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[f"x{pick}"] = value
        else:
            parent.append(value)
    return data


def _check(data: Any) -> None:
    SEEN["manifests"] += 1
    try:
        manifest = Manifest.from_dict(data)
    except BundleError as exc:
        message = str(exc)
        assert "\n" not in message and "Fix:" in message, message
        return
    # loaded: then it is valid by the published schema too, and writes back the same
    assert not list(VALIDATOR.iter_errors(json.loads(json.dumps(data)))), data
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


@fuzz_settings(400)
@given(steps=mutations())
@example(steps=[("replace", 0, math.inf)])
@example(steps=[("replace", 5, "1,1,64,64")])
def test_mutated_manifests_load_or_fail_with_one_line(base_manifest: dict[str, Any],
                                                      steps: list[tuple[str, int, Any]]) -> None:
    _check(_mutate(base_manifest, steps))


@fuzz_settings(200)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@example(raw=b"[" * 5000)
@example(raw=b'{"a": 1, "a": 2}')
def test_raw_bytes_parse_or_fail_with_one_line(raw: bytes) -> None:
    SEEN["manifests"] += 1
    try:
        data = load_json(raw, "manifest.json")
    except BundleError as exc:
        assert "\n" not in str(exc) and "Fix:" in str(exc)
        return
    _check(data)
