"""Import optional heavy frameworks on first use, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from edge_sdk.errors import MissingDependencyError


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a :class:`MissingDependencyError` naming the pip extra.

    Args:
        module: Dotted module name, e.g. ``"tensorrt"``.
        extra: The ``edge-sdk`` extra that installs it, e.g. ``"tensorrt"``.
        purpose: What the module is needed for, shown in the error.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python module '{module}', which is not installed "
            f"({exc}). Fix: pip install 'edge-sdk[{extra}]'"
        ) from exc
