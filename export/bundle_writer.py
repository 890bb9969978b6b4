"""Write a model bundle (two ONNX files + ``manifest.json``) the runtime loads and verifies."""

from __future__ import annotations

import datetime as _dt
import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk.bundle import Bundle, write_bundle_manifest
from edge_sdk.manifest import InputSpec, Manifest, ModelSpec, OutputSpec, PipelineParams
from export.errors import ExportError

_PLACEHOLDER_SHA = "0" * 64


@dataclass(frozen=True)
class NetFile:
    """One converted net to put in a bundle."""

    path: Path
    precision: str  # fp32 | fp16 | int8
    input: InputSpec
    output: OutputSpec


def write_bundle(out: str | Path, segmenter: NetFile, classifier: NetFile,
                 params: PipelineParams = PipelineParams(),
                 provenance: Mapping[str, Any] | None = None, name: str = "busi-two-stage",
                 version: str = "0.1.0") -> Bundle:
    """Copy both nets into ``out`` and write a verified manifest; returns the loaded bundle.

    Files are named ``segmenter.<precision>.onnx`` / ``classifier.<precision>.onnx``. Existing
    files of those names in ``out`` are replaced, nothing else there is touched.

    Raises:
        ExportError: a model file is missing.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = {}
    for role, net in (("segmenter", segmenter), ("classifier", classifier)):
        if not Path(net.path).is_file():
            raise ExportError(f"bundle: the {role} file {net.path} does not exist; export it "
                              "first (edge-sdk-export export-onnx / quantize)")
        file = f"{role}.{net.precision}.onnx"
        if Path(net.path).resolve() != (out / file).resolve():
            shutil.copyfile(net.path, out / file)
        specs[role] = ModelSpec(role=role, file=file, sha256=_PLACEHOLDER_SHA,
                                precision=net.precision, input=net.input,
                                outputs=(net.output,))
    manifest = Manifest(name=name, version=version, segmenter=specs["segmenter"],
                        classifier=specs["classifier"], pipeline=params,
                        provenance=dict(provenance or {}))
    return write_bundle_manifest(out, manifest)


def git_commit(repo: str | Path | None = None) -> str:
    """The current commit of the toolchain's repository (``+dirty`` when files changed)."""
    repo = Path(repo) if repo else Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "export"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def tool_versions() -> dict[str, str]:
    """Versions of the packages that shaped the models."""
    versions = {"python": platform.python_version()}
    for module in ("torch", "timm", "segmentation_models_pytorch", "onnx", "onnxruntime",
                   "onnxconverter_common"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            versions[module] = "absent"
    return versions


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
