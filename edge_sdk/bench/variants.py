"""Benchmark variants: a backend running one target bundle of the *same trained nets*."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    """One column of a comparison.

    Attributes:
        name: What the table shows, e.g. ``onnxruntime-int8-cpu``.
        backend: Backend kind.
        target: Bundle target it runs (``fp32``, ``int8-cpu``, ``int8-trt``, ``fp16``).
        options: Backend options.
        bundle: The bundle directory (resolved from ``--bundles`` or given as ``NAME=DIR``).
    """

    name: str
    backend: str
    target: str
    options: Mapping[str, Any] = field(default_factory=dict)
    bundle: Path | None = None


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("torch-fp32", "torch", "fp32", {"device": "cpu"}),
        Variant("onnxruntime-fp32", "onnxruntime", "fp32"),
        Variant("onnxruntime-int8-cpu", "onnxruntime", "int8-cpu"),
        Variant("onnxruntime-int8-trt", "onnxruntime", "int8-trt"),
        Variant("onnxruntime-fp16", "onnxruntime", "fp16"),
        Variant("openvino", "openvino", "fp32", {"precision": "default"}),
        Variant("openvino-fp32", "openvino", "fp32", {"precision": "f32"}),
        Variant("openvino-int8", "openvino", "int8-cpu"),
        Variant("torch-cuda-fp32", "torch", "fp32", {"device": "cuda"}),
        Variant("torch-cuda-fp16", "torch", "fp32", {"device": "cuda", "half": True,
                                                     "cuda_graph": True}),
        Variant("onnxruntime-cuda-fp32", "onnxruntime", "fp32",
                {"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}),
        Variant("tensorrt-fp16", "tensorrt", "fp16", {"time_transfers": True}),
        Variant("tensorrt-int8", "tensorrt", "int8-trt", {"time_transfers": True}),
    )
}
"""Known variant names → what they run. ``openvino`` is OpenVINO's own default precision (bf16
on CPUs that have it), reported as such; ``openvino-fp32`` forces f32."""


def parse_compare(text: str, bundles: Path | None, default_bundle: Path | None,
                  threads: int | None = None) -> list[Variant]:
    """Parse ``--compare`` (``NAME[@LABEL][=DIR],...``); the first variant is the baseline.

    A variant without ``=DIR`` runs ``<bundles>/<target>`` when ``--bundles`` is given (or
    ``--bundles`` with ``{target}`` filled in, e.g. ``runs/bundles/lite0-{target}``), else the
    single ``--bundle``. ``@LABEL`` names a column, so that one variant can run two bundles
    side by side (e.g. the shipped bundle against a retrained one).

    Example:
        >>> [v.name for v in parse_compare("onnxruntime-fp32,openvino", None, Path("b"))]
        ['onnxruntime-fp32', 'openvino']
        >>> [v.name for v in parse_compare("onnxruntime-int8-cpu,onnxruntime-int8-cpu@mine=m",
        ...                                None, Path("b"))]
        ['onnxruntime-int8-cpu', 'onnxruntime-int8-cpu@mine']
    """
    variants = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        column, sep, path = item.partition("=")
        name = column.partition("@")[0]
        if name not in VARIANTS:
            raise ConfigError(f"unknown benchmark variant {name!r}; known: {sorted(VARIANTS)}")
        known = VARIANTS[name]
        if sep:
            bundle = Path(path)
        elif bundles is not None:
            text = str(bundles)
            bundle = Path(text.format(target=known.target)) if "{target}" in text \
                else bundles / known.target
        elif default_bundle is not None:
            bundle = default_bundle
        else:
            raise ConfigError(f"variant {name!r} needs a bundle: pass --bundles DIR (with "
                              f"{known.target}/ inside) or write {name}=BUNDLE_DIR")
        options = dict(known.options)
        if threads and known.backend in ("onnxruntime", "openvino", "torch"):
            options.setdefault("threads", threads)
        variants.append(Variant(column, known.backend, known.target, options, bundle))
    if not variants:
        raise ConfigError("--compare lists no variant; e.g. --compare torch-fp32,onnxruntime-int8-cpu")
    if len({v.name for v in variants}) != len(variants):
        raise ConfigError("--compare names a variant twice; to run one variant on two bundles, "
                          "label one: NAME@LABEL=DIR")
    return variants
