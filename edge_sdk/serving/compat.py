"""Can this interpreter host Triton's python backend? Checked before a server starts.

The ``tritonserver`` shipped in PyPI's ``nvidia-pytriton`` runs python-backend models in a stub
process (``triton_python_backend_stub``) that is linked against the *system* ``libpython3.X``.
The stub takes its ``site-packages`` from the ``python`` first on ``PATH`` (the server's venv).
When that venv was made by another build of the same minor version (pyenv's 3.11.7 over Debian's
3.11.2), the stub runs the venv's standard library on the system's interpreter core, and model
load fails deep inside ``threading`` with ``'_thread.RLock' object has no attribute
'_recursion_count'``. So the versions must match exactly; this module says so up front.
"""

from __future__ import annotations

import ctypes
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from edge_sdk._optional import import_optional
from edge_sdk.errors import MissingDependencyError, ServingError

FIX_VENV = ('Fix: make the serving environment with the system interpreter, e.g. '
            '`/usr/bin/python3 -m venv .serve-venv && .serve-venv/bin/pip install -e ".[serve]"` '
            '(Debian: `apt-get install python3-venv libpython3.11`), and run `edge-sdk serve` from it')


def import_pytriton() -> ModuleType:
    """Import ``pytriton`` or raise :class:`MissingDependencyError` naming the ``serve`` extra
    and the kind of environment it must go into."""
    try:
        return import_optional("pytriton", "serve", "Serving the pipeline on Triton")
    except MissingDependencyError as exc:
        raise MissingDependencyError(
            f"serving the pipeline on Triton needs PyTriton (nvidia-pytriton, the serve extra), "
            f"which this environment lacks ({sys.executable}). {FIX_VENV}") from exc


@dataclass(frozen=True)
class TritonDist:
    """Where the pieces of the ``tritonserver`` shipped by ``nvidia-pytriton`` lie."""

    root: Path
    """``pytriton/tritonserver``: ``bin/``, ``backends/python``, ``python_backend_stubs/X.Y``."""
    libs: Path
    """The wheel's bundled shared libraries (``LD_LIBRARY_PATH`` for the server)."""

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    def stub(self, version: str | None = None) -> Path:
        """The python-backend stub built for ``version`` (default: this interpreter's X.Y)."""
        version = version or f"{sys.version_info[0]}.{sys.version_info[1]}"
        return self.root / "python_backend_stubs" / version / "triton_python_backend_stub"


def triton_dist() -> TritonDist:
    """Locate the ``tritonserver`` distribution inside the installed ``nvidia-pytriton``."""
    pytriton = import_pytriton()
    root = Path(str(pytriton.__file__)).parent
    dist = TritonDist(root=root / "tritonserver", libs=root.parent / "nvidia_pytriton.libs")
    if not dist.binary.is_file():
        raise ServingError(f"nvidia-pytriton at {root} has no tritonserver binary at {dist.binary}; "
                           "expected the wheel's bundled server. Fix: pip install --force-reinstall "
                           "'nvidia-pytriton>=0.7' (the Linux x86_64/aarch64 wheel ships it)")
    return dist


def stub_libpython(stub: Path) -> Path | None:
    """The ``libpython`` that the dynamic linker resolves for ``stub`` (``ldd``), or None."""
    try:
        out = subprocess.run(["ldd", str(stub)], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(libpython\S+)\s+=>\s+(\S+)", out)
    if match is None or match.group(2) == "not":
        return None
    return Path(match.group(2))


def library_version(lib: Path) -> str:
    """``Py_GetVersion()`` of a ``libpython`` file, e.g. ``'3.11.2'`` (a pure call: no init)."""
    get_version = ctypes.CDLL(str(lib)).Py_GetVersion
    get_version.restype = ctypes.c_char_p
    return str(get_version().decode().split()[0])


def check_interpreter(dist: TritonDist | None = None, version: str | None = None) -> str:
    """Raise :class:`ServingError` unless the stub's ``libpython`` is this interpreter's build.

    Args:
        dist: The server distribution (default: the installed one).
        version: The interpreter version to check (default: this one's, e.g. ``'3.11.2'``).

    Returns:
        The matching version, e.g. ``'3.11.2'``.
    """
    dist = dist or triton_dist()
    stub = dist.stub()
    here = version or platform.python_version()
    if not stub.is_file():
        available = sorted(p.name for p in (dist.root / "python_backend_stubs").iterdir())
        raise ServingError(f"the bundled tritonserver has no python-backend stub for Python "
                           f"{here}; it has stubs for {available}. {FIX_VENV}")
    lib = stub_libpython(stub)
    if lib is None:
        raise ServingError(f"the python-backend stub {stub} finds no libpython{sys.version_info[0]}."
                           f"{sys.version_info[1]} on this system (ldd). {FIX_VENV}")
    system = library_version(lib)
    if system != here:
        raise ServingError(
            f"this interpreter is Python {here} ({sys.executable}), but Triton's python-backend "
            f"stub loads the system's {lib} (Python {system}); model load would fail with "
            f"\"'_thread.RLock' object has no attribute '_recursion_count'\". {FIX_VENV}"
        )
    return here
