"""Typed, ranged reads of untrusted JSON, each error naming the field's path.

A bundle's ``manifest.json`` may have been edited by hand, truncated or tampered with. The
checks here are small and explicit rather than a schema library's: the runtime keeps numpy,
OpenCV and ONNX Runtime as its only dependencies, and every message must say the field path,
the value found, what was expected and the fix, in one line. The published JSON Schema
(``docs/manifest.schema.json``) states the same rules for other tools; the tests keep the two
in step.

Every reader takes the ``path`` of the value (``models.classifier.input.shape[2]``) and raises
:class:`~edge_sdk.errors.BundleError` with it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from edge_sdk.errors import BundleError

MAX_JSON_BYTES = 8 << 20
"""Largest manifest accepted (the shipped one is about 23 kB; provenance may grow)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and lists accepted (the shipped manifest nests 8 deep)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")

FIX = ("Fix: correct the field in manifest.json, or write the bundle again with the export "
       "toolchain (every field: docs/manifest.schema.json)")

def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(path: str, value: Any, expected: str, fix: str = FIX) -> BundleError:
    """The one-line error for ``path``: value found, what was expected, the fix."""
    return BundleError(f"manifest: '{path}' is {_show(value)}; expected {expected}. {fix}")


def missing(path: str) -> BundleError:
    return BundleError(f"manifest: '{path}' is missing; it is required (no default is assumed "
                       f"for it). {FIX}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BundleError(f"manifest: the key {key!r} appears twice in one object; a second "
                              f"value would silently replace the first. {FIX}")
        result[key] = value
    return result


def json_depth(value: Any) -> int:
    """Deepest nesting of objects and lists in a parsed JSON value (iterative, no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def load_json(raw: bytes, what: str) -> Any:
    """Parse a JSON document bounded in size and depth, refusing duplicate keys.

    Raises:
        BundleError: too large, too deep, not UTF-8, not JSON, a duplicate key.
    """
    if len(raw) > MAX_JSON_BYTES:
        raise BundleError(f"bundle: {what} is {len(raw)} bytes; expected at most "
                          f"{MAX_JSON_BYTES} bytes. Fix: use the manifest the toolchain wrote")
    try:
        # NaN and Infinity parse to floats: each field's check names them with their path
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except RecursionError:  # the C parser refuses ~1000 levels itself, without a crash
        data, depth = None, MAX_JSON_DEPTH + 1
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle: {what} is not valid UTF-8 JSON ({exc}). Fix: copy the "
                          "bundle again from its release") from exc
    else:
        depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise BundleError(f"bundle: {what} nests {depth} or more levels deep; expected at most "
                          f"{MAX_JSON_DEPTH}. Fix: use the manifest the toolchain wrote")
    return data


def obj(value: Any, path: str, required: Sequence[str], optional: Sequence[str] = ()
        ) -> Mapping[str, Any]:
    """A JSON object with exactly the ``required`` keys plus any of ``optional``."""
    if not isinstance(value, Mapping):
        raise fail(path, value, "a JSON object")
    for key in value:
        if key not in required and key not in optional:
            raise BundleError(
                f"manifest: unknown key '{path}.{key}'; accepted keys of '{path}': "
                f"{sorted((*required, *optional))}. Fix: remove it or correct its spelling "
                "(a misspelt key would otherwise be ignored)")
    for key in required:
        if key not in value:
            raise missing(f"{path}.{key}")
    return value


def string(value: Any, path: str, max_len: int = 256, choices: Sequence[str] | None = None) -> str:
    """A non-empty string without control characters (or one of ``choices``)."""
    if choices is not None:
        if not isinstance(value, str) or value not in choices:
            raise fail(path, value, f"one of {list(choices)}")
        return value
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise fail(path, value, f"a non-empty string of at most {max_len} characters")
    if any(ord(c) < 32 for c in value):
        raise fail(path, value, "text without control characters (NUL, newline, ...)")
    return value


def integer(value: Any, path: str, low: int, high: int) -> int:
    """A JSON integer (not a float, not a boolean) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(path, value, f"an integer in [{low}, {high}]")
    return value


def number(value: Any, path: str, low: float, high: float, low_open: bool = False,
           high_open: bool = False) -> float:
    """A finite JSON number (not a boolean) in the given interval."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value)
          and (value > low if low_open else value >= low)
          and (value < high if high_open else value <= high))
    if not ok:
        raise fail(path, value, f"a finite number in {interval}")
    return float(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, value, "true or false")
    return value


def array(value: Any, path: str, min_len: int, max_len: int) -> Sequence[Any]:
    """A JSON list of ``min_len`` to ``max_len`` items."""
    if not isinstance(value, list) or not min_len <= len(value) <= max_len:
        size = str(min_len) if min_len == max_len else f"{min_len} to {max_len}"
        raise fail(path, value, f"a list of {size} item(s)")
    return value


def free_form(value: Any, path: str, max_items: int = 100_000) -> dict[str, Any]:
    """A free-form JSON object (provenance, artifact meta): plain JSON values, bounded in size.

    NaN is let through here: these objects record measurements (a parity check that could not
    be computed is NaN, as Python's json writes it) and never reach the pipeline.
    """
    if not isinstance(value, Mapping):
        raise fail(path, value, "a JSON object")
    count = 0
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        count += 1
        if count > max_items or depth > MAX_JSON_DEPTH:
            raise fail(path, "...", f"at most {max_items} values nested at most "
                       f"{MAX_JSON_DEPTH} deep")
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise fail(f"{where}", key, "string keys")
                stack.append((child, f"{where}.{key}", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            raise fail(where, item, "a JSON value (object, list, string, number, bool, null)")
    return dict(value)


# ---- readers for the dataclass constructors (numpy numbers from the toolchain accepted) ----
def choice(value: Any, allowed: Sequence[str], where: str) -> str:
    """One of ``allowed`` (strings only: ``1`` is not ``"1"``)."""
    if not isinstance(value, str) or value not in allowed:
        raise fail(where, value, f"one of {list(allowed)}")
    return value


def file_name(value: Any, where: str) -> str:
    """A relative file name inside the bundle: text, no NUL or control characters."""
    return string(value, where, max_len=1024)


def int_tuple(values: Any, where: str) -> tuple[int, ...]:
    """A constructor's sequence of whole numbers (numpy ints too; never bools or floats)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or any(
            isinstance(v, bool) or not isinstance(v, Integral) for v in values):
        raise fail(where, values, "a list of integers")
    return tuple(int(v) for v in values)


def real_tuple(values: Any, where: str, positive: bool = False) -> tuple[float, ...]:
    """A constructor's sequence of finite numbers (> 0 when ``positive``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values or any(
            isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v)
            or (positive and v <= 0) for v in values):
        raise fail(where, values, "a list of finite numbers" + (" > 0" if positive else ""))
    return tuple(float(v) for v in values)


def real(value: Any, where: str, low: float, high: float, low_open: bool = False,
         high_open: bool = False) -> float:
    """A finite number in the interval; numpy scalars are accepted and become floats."""
    if isinstance(value, Real) and not isinstance(value, bool):
        value = float(value)  # numpy scalars from the toolchain are fine
    return number(value, where, low, high, low_open, high_open)


def sha256(value: Any, where: str) -> None:
    """A sha256 digest as the manifest spells it."""
    if not isinstance(value, str) or _SHA256.fullmatch(value) is None:
        raise fail(where, value, "64 lowercase hex digits (the file's sha256)",
                   "Fix: write the manifest with edge_sdk.write_bundle_manifest, which "
                   "computes every digest from the files")
