"""The TensorRT package's imports run one way: compat → cuda → build → cache (backend on top)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edge_sdk" / "tensorrt"
ORDER = ["compat", "cuda", "build", "cache"]


def _package_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edge_sdk.tensorrt."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.rsplit(".", 1)[1] for a in node.names
                      if a.name.startswith("edge_sdk.tensorrt.")}
    return found


@pytest.mark.parametrize("module", ORDER)
def test_imports_only_modules_below(module: str) -> None:
    below = set(ORDER[: ORDER.index(module)])
    assert _package_imports(module) <= below, f"{module} imports {_package_imports(module) - below}"


def test_no_backend_import_inside_the_package() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.startswith("edge_sdk.backends") for n in names), path.name
