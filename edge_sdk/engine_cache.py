"""Find a TensorRT engine compatible with this host for a bundle's net, or build one once.

Engines live in the bundle (written by ``edge-sdk build-engine``) or in a cache directory beside
it, ``<bundle>.engines/<bundle digest[:12]>/`` (``$EDGE_SDK_ENGINE_CACHE`` overrides, and
``~/.cache/edge-sdk/engines`` is used when the bundle's folder is read-only, e.g. a bundle
shipped inside the installed package). Cache entries are keyed by GPU, compute capability,
TensorRT version and precision (the file name) and by the bundle digest (the folder), and
carry a JSON sidecar with their sha256, checked before reuse.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_sdk.bundle import Bundle, file_sha256
from edge_sdk.manifest import ModelSpec
from edge_sdk.tensorrt_compat import engine_file_name

MATCH_KEYS = ("tensorrt_version", "compute_capability", "precision")

Builder = Callable[..., dict[str, Any]]


def host_facts(device: int = 0) -> dict[str, str]:
    """TensorRT version, GPU name and compute capability of this host."""
    from edge_sdk.engine_build import require_tensorrt

    require_tensorrt()
    import tensorrt as trt

    from edge_sdk.cuda_runtime import device_properties

    props = device_properties(device)
    return {"tensorrt_version": trt.__version__, "gpu": props["name"],
            "compute_capability": props["compute_capability"]}


def is_compatible(meta: dict[str, Any], facts: dict[str, str], precision: str) -> bool:
    """True when an engine's metadata matches this host and the wanted precision."""
    wanted = {**facts, "precision": precision}
    return all(str(meta.get(key)) == str(wanted[key]) for key in MATCH_KEYS)


def engine_target(spec: ModelSpec, precision: str, max_lesions: int, facts: dict[str, str],
                  dla_core: int | None = None, max_batch: int = 0) -> tuple[str, int]:
    """The plan file name and largest batch of an engine for ``spec`` on the host ``facts``.

    A dynamic-batch net (the classifier) is built for batch 1 … ``max_lesions``; a fixed-batch
    net for its own batch. ``max_batch`` > 0 overrides both.
    """
    batch = max_batch or (max_lesions if spec.input.dynamic_batch else max(1, spec.input.shape[0]))
    name = engine_file_name(spec.role, precision, facts["tensorrt_version"],
                            facts["compute_capability"], facts["gpu"], batch, dla_core)
    return name, batch


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cache_dir(bundle: Bundle) -> Path:
    """Where engines built for ``bundle`` are cached (created if needed)."""
    sub = bundle.digest[:12]
    override = os.environ.get("EDGE_SDK_ENGINE_CACHE")
    candidates = [Path(override) / sub] if override else []
    candidates += [bundle.root.parent / f"{bundle.root.name}.engines" / sub,
                   Path.home() / ".cache" / "edge-sdk" / "engines" / sub]
    for folder in candidates:
        if _writable(folder):
            return folder
    raise OSError(f"no writable engine cache folder among {[str(c) for c in candidates]}; "
                  "set EDGE_SDK_ENGINE_CACHE to a writable folder")


def _cached(plan: Path) -> dict[str, Any] | None:
    sidecar = plan.with_suffix(".json")
    if not (plan.is_file() and sidecar.is_file()):
        return None
    entry = json.loads(sidecar.read_text(encoding="utf-8"))
    if entry.get("sha256") != file_sha256(plan):
        return None  # a half-written or altered plan: rebuild rather than load it
    return dict(entry["meta"])


def engine_for(bundle: Bundle, role: str, precision: str | None = None, *,
               facts: dict[str, str] | None = None, build: Builder | None = None,
               **build_options: Any) -> tuple[Path, dict[str, Any]]:
    """Path and metadata of an engine for ``role`` that this host can run.

    Looks in the bundle's manifest first, then in the cache; builds (with progress on stderr)
    into the cache when neither has one.

    Args:
        bundle: A loaded bundle.
        role: ``segmenter`` or ``classifier``.
        precision: Engine precision; default: the net's precision in the manifest.
        facts: This host's facts (default: :func:`host_facts`).
        build: The engine builder (default: :func:`edge_sdk.engine_build.build_engine`).
        **build_options: ``workspace_mb``, ``dla_core``, ``timing_cache``, ``max_batch``.
    """
    spec = bundle.manifest.models[role]
    wanted = precision or spec.precision
    facts = facts or host_facts()
    for artifact in spec.artifacts_of("tensorrt"):
        if is_compatible(dict(artifact.meta), facts, wanted):
            return bundle.artifact_path(role, artifact), dict(artifact.meta)
    name, max_batch = engine_target(spec, wanted, bundle.manifest.pipeline.max_lesions, facts,
                                    build_options.get("dla_core"),
                                    int(build_options.pop("max_batch", 0)))
    plan = cache_dir(bundle) / name
    meta = _cached(plan)
    if meta is not None:
        return plan, meta
    if build is None:
        from edge_sdk.engine_build import build_engine

        build = build_engine
    print(f"edge-sdk: no {wanted} TensorRT engine for the {role} on this GPU yet; building it "
          f"once into {plan.parent} (this can take minutes)", file=sys.stderr)
    partial = plan.with_suffix(".partial")
    meta = build(bundle.model_path(role), partial, precision=wanted,
                 onnx_precision=spec.precision, max_batch=max_batch, **build_options)
    partial.replace(plan)
    plan.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "sha256": file_sha256(plan)}, indent=2), encoding="utf-8")
    return plan, meta
