"""Engines for a bundle: find one this host can run, or build it once (and record it).

Engines live in the bundle (written by ``edge-sdk build-engine``) or in a cache directory beside
it, ``<bundle>.engines/<bundle digest[:12]>/`` (``$EDGE_SDK_ENGINE_CACHE`` overrides, and
``~/.cache/edge-sdk/engines`` is used when the bundle's folder is read-only, e.g. a bundle
shipped inside the installed package). An engine is reused only when its TensorRT version,
compute capability, GPU name (AGX Orin and Orin Nano are both 8.7), precision and DLA core
match, and its largest batch covers what the pipeline can send; cache entries carry a JSON
sidecar with their sha256, checked before reuse.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_sdk.bundle import Bundle, file_sha256, load_bundle, write_bundle_manifest
from edge_sdk.manifest import ArtifactSpec, ModelSpec, PipelineParams
from edge_sdk.tensorrt.build import build_engine, write_atomic
from edge_sdk.tensorrt.compat import engine_file_name, require_tensorrt, tensorrt_version
from edge_sdk.tensorrt.cuda import device_properties

MATCH_KEYS = ("tensorrt_version", "compute_capability", "gpu", "precision", "dla_core")
PLACEHOLDER_SHA = "0" * 64

Builder = Callable[..., dict[str, Any]]


def host_facts(device: int = 0) -> dict[str, str]:
    """TensorRT version, GPU name and compute capability of this host's ``device``."""
    require_tensorrt()
    import tensorrt as trt

    props = device_properties(device)
    return {"tensorrt_version": tensorrt_version(trt), "gpu": props["name"],
            "compute_capability": props["compute_capability"]}


def engine_batch(meta: dict[str, Any]) -> int:
    """The largest batch an engine was built for (0 when its metadata does not say)."""
    value = meta.get("max_batch", dict(meta.get("options") or {}).get("max_batch", 0))
    return int(value or 0)


def is_compatible(meta: dict[str, Any], facts: dict[str, str], precision: str,
                  dla_core: int | None = None, batch: int = 1) -> bool:
    """True when an engine's metadata matches this host, the wanted precision and DLA core,
    and its largest batch is at least ``batch``."""
    wanted: dict[str, Any] = {**facts, "precision": precision, "dla_core": dla_core}
    built: dict[str, Any] = {"dla_core": dict(meta.get("options") or {}).get("dla_core"), **meta}
    same = all(str(built.get(key)) == str(wanted.get(key)) for key in MATCH_KEYS)
    return same and engine_batch(meta) >= batch


def needed_batch(spec: ModelSpec, params: PipelineParams, max_lesions: int | None = None) -> int:
    """The largest batch the pipeline can send to ``spec``'s net.

    The classifier (dynamic batch) gets one crop per kept lesion, twice that with
    ``classifier_hflip`` (the mirrors ride in the same batch); a fixed-batch net its own batch.
    ``max_lesions`` overrides the bundle's.
    """
    if not spec.input.dynamic_batch:
        return max(1, spec.input.shape[0])
    lesions = max_lesions or params.max_lesions
    return lesions * (2 if params.classifier_hflip else 1)


def typical_batch(spec: ModelSpec, params: PipelineParams) -> int:
    """The batch to tune for: one lesion (and its mirror)."""
    if not spec.input.dynamic_batch:
        return max(1, spec.input.shape[0])
    return 2 if params.classifier_hflip else 1


def engine_target(spec: ModelSpec, precision: str, batch: int, facts: dict[str, str],
                  dla_core: int | None = None) -> str:
    """The plan file name of an engine for ``spec`` on the host ``facts`` with largest
    batch ``batch``."""
    return engine_file_name(spec.role, precision, facts["tensorrt_version"],
                            facts["compute_capability"], facts["gpu"], batch, dla_core)


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
    raise OSError(f"no writable engine cache folder among {[str(c) for c in candidates]}. "
                  "Fix: set EDGE_SDK_ENGINE_CACHE to a writable folder")


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
               device: int = 0, max_lesions: int | None = None,
               params: PipelineParams | None = None,
               **build_options: Any) -> tuple[Path, dict[str, Any]]:
    """Path and metadata of an engine for ``role`` that this host can run.

    Looks in the bundle's manifest first, then in the cache; builds (with progress on stderr)
    into the cache when neither has one.

    Args:
        bundle: A loaded bundle.
        role: ``segmenter`` or ``classifier``.
        precision: Engine precision; default: the net's precision in the manifest.
        facts: This host's facts (default: :func:`host_facts`).
        build: The engine builder (default: :func:`edge_sdk.tensorrt.build.build_engine`).
        device: CUDA device the engine runs on (and is built on).
        max_lesions: Overrides ``params.max_lesions`` when sizing the classifier's batch.
        params: The pipeline parameters in use (default: the bundle's); ``max_lesions`` and
            ``classifier_hflip`` size the classifier's batch.
        **build_options: ``workspace_mb``, ``dla_core``, ``timing_cache``, ``max_batch``
            (an explicit largest batch, at least what the pipeline can send).
    """
    spec = bundle.manifest.models[role]
    params = params or bundle.manifest.pipeline
    wanted = precision or trt_source(bundle, role, None)[1]
    facts = facts or host_facts(device)
    dla_core = build_options.get("dla_core")
    batch = max(needed_batch(spec, params, max_lesions), int(build_options.pop("max_batch", 0)))
    for artifact in spec.artifacts_of("tensorrt"):
        if is_compatible(dict(artifact.meta), facts, wanted, dla_core, batch):
            return bundle.artifact_path(role, artifact), dict(artifact.meta)
    plan = cache_dir(bundle) / engine_target(spec, wanted, batch, facts, dla_core)
    meta = _cached(plan)
    if meta is not None and is_compatible(meta, facts, wanted, dla_core, batch):
        return plan, meta
    build = build or build_engine
    print(f"edge-sdk: no {wanted} TensorRT engine for the {role} on this GPU yet; building it "
          f"once into {plan.parent} (this can take minutes)", file=sys.stderr)
    partial = plan.with_suffix(".partial")
    source, source_precision = trt_source(bundle, role, wanted)
    meta = build(source, partial, precision=wanted, onnx_precision=source_precision,
                 max_batch=batch, opt_batch=typical_batch(spec, params), device=device,
                 **build_options)
    partial.replace(plan)
    write_atomic(plan.with_suffix(".json"),
                 json.dumps({"meta": meta, "sha256": file_sha256(plan)}, indent=2).encode())
    return plan, meta


def trt_source(bundle: Bundle, role: str, precision: str | None) -> tuple[Path, str]:
    """The ONNX file TensorRT builds ``role`` from, and its precision.

    A model family carries an ``int8-trt`` file (symmetric Q/DQ, TensorRT's INT8 placement) and
    an ``fp32`` one: an int8 engine (and the default, when the family has it) builds from the
    former, fp16/fp32 engines from the latter; a single-target bundle from its main file.
    """
    if precision in (None, "int8"):
        path, onnx_precision = bundle.onnx_for(role, "int8-trt")
        if precision is None or onnx_precision == "int8":
            return path, onnx_precision
    return bundle.onnx_for(role, "fp32")


def build_bundle_engines(
    bundle_dir: str | Path,
    precision: str | None = None,
    max_lesions: int | None = None,
    device: int = 0,
    build: Builder | None = None,
    **options: Any,
) -> Bundle:
    """Build an engine for each net of a bundle, write them into it and record them.

    Existing TensorRT artifacts for the same host, precision and DLA core are replaced; the
    manifest's sha256 list is rewritten. The classifier's batch covers ``max_lesions`` (default:
    the bundle's), doubled when the bundle mirrors classifier crops.
    """
    require_tensorrt()
    bundle = load_bundle(bundle_dir)
    manifest = bundle.manifest
    facts = host_facts(device)
    dla_core = options.get("dla_core")
    build = build or build_engine
    artifacts: dict[str, tuple[ArtifactSpec, ...]] = {}
    for role, spec in manifest.models.items():
        chosen = precision or trt_source(bundle, role, None)[1]
        batch = needed_batch(spec, manifest.pipeline, max_lesions)
        path = bundle.root / engine_target(spec, chosen, batch, facts, dla_core)
        source, source_precision = trt_source(bundle, role, chosen)
        meta = build(source, path, precision=chosen,
                     onnx_precision=source_precision, max_batch=batch,
                     opt_batch=typical_batch(spec, manifest.pipeline), device=device, **options)
        kept = tuple(a for a in spec.artifacts if not (
            a.kind == "tensorrt" and is_compatible(dict(a.meta), facts, chosen, dla_core, 0)))
        artifacts[role] = kept + (ArtifactSpec("tensorrt", path.name, PLACEHOLDER_SHA, meta),)
    return write_bundle_manifest(bundle.root, manifest.with_artifacts(artifacts))
