"""One bundle for every target: the shipped model family.

A family is a bundle whose main files serve its own target (``int8-cpu``, the embedded
default) and whose nets also carry, as artifacts,

- ``onnx`` files of the same nets for the other targets (``int8-trt``: symmetric Q/DQ for
  TensorRT; ``fp32``: what ``edge-sdk build-engine`` needs for fp16/fp32 engines), each with
  ``meta.target`` and ``meta.precision``;
- ``safetensors``: the fp32 training weights (fine-tuning, the ``torch-fp32`` baseline).

Identical files are stored once (the int8-cpu classifier may already be the fp32 one). The
manifest's digest covers every file, since each is listed with its sha256.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_sdk.bundle import Bundle, file_sha256, load_bundle, write_bundle_manifest
from edge_sdk.manifest import MODEL_ROLES, ArtifactSpec
from export.errors import ExportError
from export.weights import save_weights

_PLACEHOLDER_SHA = "0" * 64


def _same_nets(primary: Bundle, other: Bundle, target: str) -> None:
    for role in MODEL_ROLES:
        mine, theirs = primary.manifest.models[role], other.manifest.models[role]
        if (mine.input, mine.outputs) != (theirs.input, theirs.outputs):
            raise ExportError(f"family: the {target} bundle's {role} takes or returns other "
                              f"tensors than the main bundle's ({theirs.input} vs {mine.input})."
                              " Fix: build every target from the same checkpoints")


def build_family(primary_dir: str | Path, targets: Mapping[str, str | Path],
                 checkpoints: Mapping[str, str | Path], out: str | Path,
                 share_weights: bool = True,
                 extra_provenance: Mapping[str, Any] | None = None) -> Bundle:
    """Copy the ``primary_dir`` bundle to ``out`` and add the other targets' nets and weights.

    Args:
        primary_dir: The bundle whose files serve its own target and whose pipeline
            parameters, gate and provenance the family keeps.
        targets: Other bundles of the same nets by target name (e.g. ``{"int8-trt": dir,
            "fp32": dir}``).
        checkpoints: Each role's training checkpoint (``best.pt`` or ``.safetensors``),
            written into the family as ``<role>.fp32.safetensors``.
        out: The family's directory (replaced if it exists).
        share_weights: Write the fp32 ONNX artifacts (not the main files) with their weights
            read from the safetensors file (:mod:`export.shared_weights`): stored once.
        extra_provenance: Keys added to the primary's provenance (e.g. ``family_left_out``).

    Raises:
        ExportError: a target bundle holds other nets, a role has no checkpoint, or a
            weight-sharing file does not compute what the file it replaces computes.
    """
    from export.train import load_checkpoint

    primary = load_bundle(primary_dir)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    stored: dict[str, str] = {}  # sha256 -> file name in the family
    for role, spec in primary.manifest.models.items():
        shutil.copyfile(primary.model_path(role), out / spec.file)
        stored[spec.sha256] = spec.file
    artifacts: dict[str, list[ArtifactSpec]] = {role: [] for role in MODEL_ROLES}
    layout: dict[str, dict[str, str]] = {
        primary.manifest.provenance.get("target", "main"):
            {r: s.file for r, s in primary.manifest.models.items()}}
    for target, directory in targets.items():
        other = load_bundle(directory)
        _same_nets(primary, other, target)
        layout[target] = {}
        for role, spec in other.manifest.models.items():
            if spec.sha256 not in stored:
                name = f"{role}.{target}.onnx"
                shutil.copyfile(other.model_path(role), out / name)
                stored[spec.sha256] = name
            file = stored[spec.sha256]
            layout[target][role] = file
            artifacts[role].append(ArtifactSpec("onnx", file, spec.sha256,
                                                {"target": target, "precision": spec.precision}))
    for role in MODEL_ROLES:
        if role not in checkpoints:
            raise ExportError(f"family: no checkpoint for the {role}; expected one per role "
                              f"({list(MODEL_ROLES)}). Fix: pass --{role} RUN/best.pt")
        checkpoint = load_checkpoint(checkpoints[role])
        name = f"{role}.fp32.safetensors"
        save_weights(checkpoint, out / name)
        artifacts[role].append(ArtifactSpec("safetensors", name, file_sha256(out / name),
                                            {"arch": checkpoint["config"]["arch"],
                                             "precision": "fp32"}))
        if share_weights:
            artifacts[role] = _share_weights(artifacts[role], primary.manifest.models[role].file,
                                             checkpoints[role], out, name)
    manifest = primary.manifest.with_artifacts(artifacts)
    provenance = {**manifest.provenance, **(extra_provenance or {}), "family": layout}
    manifest = dataclasses.replace(manifest, provenance=provenance)
    return write_bundle_manifest(out, manifest)


def _share_weights(artifacts: list[ArtifactSpec], main_file: str, checkpoint: str | Path,
                   out: Path, weights: str) -> list[ArtifactSpec]:
    """``artifacts`` with each fp32 ONNX file that holds its own weights (not the main file,
    which is copied alone by other tools) rewritten by :func:`_sharing`."""
    return [_sharing(a, checkpoint, out, weights)
            if a.kind == "onnx" and a.meta.get("precision") == "fp32" and a.file != main_file
            and "weights_in" not in a.meta else a for a in artifacts]


def _sharing(artifact: ArtifactSpec, checkpoint: str | Path, out: Path,
             weights: str) -> ArtifactSpec:
    """``artifact`` (an fp32 ONNX file in ``out``) re-exported unfolded, its weights read from
    ``out/weights``; checked against the file it replaces."""
    import numpy as np

    from export.onnx_export import export_module
    from export.shared_weights import point_into_safetensors, same_outputs
    from export.train import model_from_checkpoint

    model, config = model_from_checkpoint(checkpoint)
    spec = config.input_spec()
    work = out / f".{artifact.file}.work"
    work.mkdir()
    candidate = out / f".{artifact.file}.candidate"  # beside the weights it refers to
    try:
        unfolded = export_module(model, config.role, spec, work / "unfolded.onnx", fold=False)
        point_into_safetensors(unfolded, out / weights, candidate)
        height, width = spec.size_hw
        batch = 1 if config.role == "segmenter" else 2
        inputs = np.random.default_rng(0).standard_normal(
            (batch, spec.channels, height, width)).astype(np.float32)
        diff = same_outputs(out / artifact.file, candidate, inputs)
        candidate.replace(out / artifact.file)
    finally:
        shutil.rmtree(work)
        candidate.unlink(missing_ok=True)
    meta = {**artifact.meta, "weights_in": weights, "batch_norm": "unfolded",
            "max_abs_diff_vs_folded": diff}
    return ArtifactSpec("onnx", artifact.file, file_sha256(out / artifact.file), meta)


def share_family_weights(family_dir: str | Path, out: str | Path) -> Bundle:
    """Copy a family written before its fp32 ONNX artifacts shared the safetensors weights
    to ``out``, with those artifacts rewritten to share them (main files unchanged, so the
    main target computes exactly what it did). The manifest records it in provenance.

    Raises:
        ExportError: the bundle ships no safetensors weights, or a rewritten file does not
            compute what the original computes.
    """
    from export.finetune import parent_weights

    family = load_bundle(family_dir)
    weights = parent_weights(family)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(family.root, out)
    artifacts = {role: _share_weights(list(spec.artifacts), spec.file, weights[role], out,
                                      weights[role].name)
                 for role, spec in family.manifest.models.items()}
    manifest = family.manifest.with_artifacts(artifacts)
    provenance = {**manifest.provenance,
                  "weights_shared_from": {"digest": family.digest, "path": str(family.root)}}
    return write_bundle_manifest(out, dataclasses.replace(manifest, provenance=provenance))


def family_member(family_dir: str | Path, target: str, out: str | Path) -> Bundle:
    """Write one member of a family as a single-target bundle (e.g. the ``fp32`` nets for an
    fp32 evaluation, or only what a Jetson needs): its files become the main files, with the
    safetensors they read their weights from; pipeline parameters and provenance are the
    family's, plus ``member_of`` (family digest and target).

    Raises:
        ExportError: the bundle is not a family or has no such member.
    """
    family = load_bundle(family_dir)
    layout = family.manifest.provenance.get("family") or {}
    if target not in layout:
        raise ExportError(f"member: {family.root} has no {target!r} member; it has "
                          f"{sorted(layout)}. Fix: pick one of those")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    models: dict[str, Any] = {}
    for role, spec in family.manifest.models.items():
        file = layout[target][role]
        keep: tuple[ArtifactSpec, ...] = ()
        if file == spec.file:
            precision = spec.precision
        else:
            (artifact,) = [a for a in spec.artifacts_of("onnx") if a.file == file]
            precision = artifact.meta["precision"]
            keep = tuple(a for a in spec.artifacts if a.file == artifact.meta.get("weights_in"))
        for name in (file, *(a.file for a in keep)):
            shutil.copyfile(family.root / name, out / name)
        models[role] = dataclasses.replace(spec, file=file, sha256=file_sha256(out / file),
                                           precision=precision, artifacts=keep)
    provenance = {**family.manifest.provenance, "target": target,
                  "member_of": {"family_digest": family.digest, "target": target}}
    provenance.pop("family", None)
    manifest = dataclasses.replace(family.manifest, segmenter=models["segmenter"],
                                   classifier=models["classifier"], provenance=provenance)
    return write_bundle_manifest(out, manifest)


def family_size_mb(bundle: Bundle) -> float:
    """Bytes on disk of every file of the bundle, in MB."""
    return sum(p.stat().st_size for p in bundle.root.iterdir() if p.is_file()) / 1e6


def build_family_from_checkpoints(segmenter: str | Path, classifier: str | Path,
                                  options: Any, targets: tuple[str, ...] = ("int8-trt",)
                                  ) -> Bundle:
    """Build the ``options.target`` bundle (tuned and gated), the bundles of ``targets`` with
    its pipeline parameters, and write the family to ``options.out``.

    ``options`` is an :class:`export.build.BuildOptions` for the main target; the work of every
    step stays under ``options.work``. The main build's fp32 reference (same parameters) is the
    family's ``fp32`` member.

    A further target whose nets fail the accuracy gate is left out of the family, and
    ``provenance.family_left_out`` says which and why (its bundle stays in the work folder):
    the main target and ``fp32`` still ship, and a backend without its own file builds from
    the fp32 one.

    Raises:
        GateError: the main target's converted nets failed the accuracy gate (its bundle is
            kept in the work folder, the family is not written).
    """
    from export.build import build_bundle
    from export.errors import GateError

    work = Path(options.work)
    main_options = dataclasses.replace(options, out=work / options.target,
                                       work=work / f"{options.target}.work")
    main = build_bundle(segmenter, classifier, main_options)
    members: dict[str, Path] = {}
    left_out: dict[str, Any] = {}
    for target in targets:
        try:
            members[target] = build_bundle(segmenter, classifier, dataclasses.replace(
                options, target=target, out=work / target, work=work / f"{target}.work",
                params=main.manifest.pipeline, tune=False)).root
        except GateError as exc:
            print(f"family: the {target} member failed its accuracy gate and is left out: {exc}")
            left_out[target] = {"reason": "accuracy gate failed", "gate": exc.result,
                                "bundle": str(work / target)}
    members["fp32"] = Path(main_options.work) / "fp32-reference"
    return build_family(main.root, members,
                        {"segmenter": segmenter, "classifier": classifier}, options.out,
                        extra_provenance={"family_left_out": left_out} if left_out else None)
