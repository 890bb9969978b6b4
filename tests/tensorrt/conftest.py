"""Fixtures of the TensorRT package tests: the fakes of TensorRT and cuda-python installed."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.tensorrt.fakes import FakeCudart, install


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, FakeCudart]:
    """TensorRT 10.3 (JetPack 6) and one 8.7 GPU, faked."""
    return install(monkeypatch, "10.3.0", gpu="Orin (nvgpu)")
