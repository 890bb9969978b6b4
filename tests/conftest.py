"""Shared fixtures: the tiny real ONNX test bundle and the BUSI dataset location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_sdk.bundle import Bundle
from edge_sdk.testing import make_tiny_bundle

REPO = Path(__file__).resolve().parents[1]


def busi_dir() -> Path:
    """The BUSI dataset: $BUSI_DIR, else ../shared/data/busi beside the repository."""
    return Path(os.environ.get("BUSI_DIR", REPO.parent / "shared" / "data" / "busi"))


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle written once per session. Tests must not modify it: copy it first."""
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle")).root


@pytest.fixture()
def tiny_bundle(tiny_bundle_dir: Path) -> Bundle:
    from edge_sdk.bundle import load_bundle

    return load_bundle(tiny_bundle_dir)


@pytest.fixture()
def busi() -> Path:
    path = busi_dir()
    if not (path / "labels.csv").is_file():
        pytest.skip(f"BUSI dataset not found at {path} (set BUSI_DIR or place it at "
                    "../shared/data/busi beside the repository)")
    return path
