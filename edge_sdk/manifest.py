"""The model-bundle manifest: what each net expects and how the pipeline uses it.

The manifest is plain JSON (``manifest.json`` beside the model files). These dataclasses parse
and validate it, so that a bad bundle fails at load time with a message naming the field, never
halfway through a scan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_sdk.errors import BundleError

SCHEMA_VERSION = 1
"""The manifest schema this runtime reads and writes."""

SUPPORTED_SCHEMA_VERSIONS = (1,)
PRECISIONS = ("fp32", "fp16", "int8")
COLOR_MODES = ("gray", "rgb", "bgr")
INPUT_DTYPES = ("float32", "float16")
MODEL_ROLES = ("segmenter", "classifier")
SEGMENTER_OUTPUT_MEANINGS = ("lesion_probability", "lesion_logit")
CLASSIFIER_OUTPUT_MEANINGS = ("class_probabilities", "class_logits", "malignancy_logit")


def _need(data: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise BundleError(f"manifest: '{where}' must be a JSON object, found {type(data).__name__}")
    if key not in data:
        raise BundleError(
            f"manifest: '{where}.{key}' is missing. Fix: add it (see README, 'Bundle format')"
        )
    return data[key]


def _choice(value: Any, allowed: Sequence[str], where: str) -> str:
    if value not in allowed:
        raise BundleError(f"manifest: '{where}' is {value!r}; expected one of {list(allowed)}")
    return str(value)


@dataclass(frozen=True)
class InputSpec:
    """How a net's single image input is laid out and normalized.

    The tensor is NCHW. ``shape`` uses ``-1`` for a dynamic dimension (the classifier's batch).
    Normalization maps a uint8 pixel ``p`` of channel ``c`` to ``(p * scale - mean[c]) / std[c]``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    color: str = "gray"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        where = f"input '{self.name}'"
        if len(self.shape) != 4:
            raise BundleError(f"manifest: {where} shape {list(self.shape)} is not NCHW (4 dims)")
        if any(d == 0 or d < -1 for d in self.shape) or any(d < 1 for d in self.shape[1:]):
            raise BundleError(
                f"manifest: {where} shape {list(self.shape)} has invalid dims; expected positive "
                "sizes, -1 allowed only for the batch dimension"
            )
        _choice(self.dtype, INPUT_DTYPES, f"{where}.dtype")
        _choice(self.color, COLOR_MODES, f"{where}.color")
        channels = 1 if self.color == "gray" else 3
        if self.shape[1] != channels:
            raise BundleError(
                f"manifest: {where} has colour mode '{self.color}' ({channels} channel(s)) but "
                f"shape {list(self.shape)} has {self.shape[1]}"
            )
        for label, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise BundleError(
                    f"manifest: {where}.{label} has {len(values)} values; expected 1 or {channels}"
                )
        if any(s == 0 for s in self.std):
            raise BundleError(f"manifest: {where}.std contains 0; expected non-zero values")

    @property
    def channels(self) -> int:
        return int(self.shape[1])

    @property
    def size_hw(self) -> tuple[int, int]:
        """The spatial size (height, width) the net expects."""
        return int(self.shape[2]), int(self.shape[3])

    @property
    def dynamic_batch(self) -> bool:
        return self.shape[0] == -1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> InputSpec:
        norm = data.get("normalization", {})
        return cls(
            name=str(_need(data, "name", where)),
            shape=tuple(int(d) for d in _need(data, "shape", where)),
            dtype=str(data.get("dtype", "float32")),
            color=str(_need(data, "color", where)),
            scale=float(norm.get("scale", 1.0 / 255.0)),
            mean=tuple(float(v) for v in norm.get("mean", (0.0,))),
            std=tuple(float(v) for v in norm.get("std", (1.0,))),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "color": self.color,
            "normalization": {"scale": self.scale, "mean": list(self.mean), "std": list(self.std)},
        }


@dataclass(frozen=True)
class OutputSpec:
    """One named output of a net and what its values mean."""

    name: str
    meaning: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "meaning": self.meaning}


ARTIFACT_KINDS = ("torch", "tensorrt", "onnx", "safetensors")


@dataclass(frozen=True)
class ArtifactSpec:
    """Another form of the same net, for a backend that does not run ONNX.

    ``torch``: a ``torch.export`` program (``.pt2``) of the same weights, for the torch backend.
    ``tensorrt``: a serialized TensorRT plan; ``meta`` records what it depends on
    (``tensorrt_version``, ``compute_capability``, ``gpu``, ``precision``, build options).
    ``onnx``: the same net converted for another target; ``meta`` holds ``target`` (``fp32``,
    ``int8-trt``, ``fp16``) and ``precision``, so one bundle serves every target of its family.
    ``safetensors``: the fp32 training weights (no pickle), with ``meta.arch`` and
    ``meta.config``, for fine-tuning and the ``torch-fp32`` baseline.
    """

    kind: str
    file: str
    sha256: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice(self.kind, ARTIFACT_KINDS, "artifacts[].kind")
        _check_sha256(self.sha256, f"artifact '{self.file}'.sha256")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ArtifactSpec:
        return cls(kind=str(_need(data, "kind", where)), file=str(_need(data, "file", where)),
                   sha256=str(_need(data, "sha256", where)), meta=dict(data.get("meta", {})))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "sha256": self.sha256, "meta": dict(self.meta)}


def _check_sha256(value: str, where: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise BundleError(f"manifest: '{where}' is {value!r}; expected 64 lowercase hex digits")


@dataclass(frozen=True)
class ModelSpec:
    """One net of the bundle: its file, checksum, precision and tensors."""

    role: str
    file: str
    sha256: str
    precision: str
    input: InputSpec
    outputs: tuple[OutputSpec, ...]
    artifacts: tuple[ArtifactSpec, ...] = ()

    def __post_init__(self) -> None:
        where = f"models.{self.role}"
        _choice(self.role, MODEL_ROLES, "models.<role>")
        _choice(self.precision, PRECISIONS, f"{where}.precision")
        _check_sha256(self.sha256, f"{where}.sha256")
        if len(self.outputs) != 1:
            raise BundleError(f"manifest: '{where}.outputs' must list exactly one output")
        allowed = (
            SEGMENTER_OUTPUT_MEANINGS if self.role == "segmenter" else CLASSIFIER_OUTPUT_MEANINGS
        )
        _choice(self.outputs[0].meaning, allowed, f"{where}.outputs[0].meaning")
        if self.role == "segmenter" and self.input.dynamic_batch:
            raise BundleError(f"manifest: '{where}.input.shape' must have a fixed batch of 1")

    @property
    def output(self) -> OutputSpec:
        return self.outputs[0]

    def artifacts_of(self, kind: str) -> list[ArtifactSpec]:
        """This net's artifacts of one kind (one of :data:`ARTIFACT_KINDS`)."""
        return [a for a in self.artifacts if a.kind == kind]

    @classmethod
    def from_dict(cls, role: str, data: Mapping[str, Any]) -> ModelSpec:
        where = f"models.{role}"
        outputs = _need(data, "outputs", where)
        if not isinstance(outputs, list):
            raise BundleError(f"manifest: '{where}.outputs' must be a list")
        return cls(
            role=role,
            file=str(_need(data, "file", where)),
            sha256=str(_need(data, "sha256", where)),
            precision=str(_need(data, "precision", where)),
            input=InputSpec.from_dict(_need(data, "input", where), f"{where}.input"),
            outputs=tuple(
                OutputSpec(str(_need(o, "name", f"{where}.outputs")), str(_need(o, "meaning", f"{where}.outputs")))
                for o in outputs
            ),
            artifacts=tuple(ArtifactSpec.from_dict(a, f"{where}.artifacts[]")
                            for a in data.get("artifacts", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "precision": self.precision,
            "input": self.input.to_dict(),
            "outputs": [o.to_dict() for o in self.outputs],
            "artifacts": [a.to_dict() for a in self.artifacts],
        }


@dataclass(frozen=True)
class PipelineParams:
    """Parameters of the steps between the two nets (one section of the manifest)."""

    segmentation_threshold: float = 0.5
    min_lesion_area_fraction: float = 0.001
    roi_margin: float = 0.1
    max_lesions: int = 4
    decision_threshold: float = 0.5
    class_names: tuple[str, ...] = ("benign", "malignant")
    positive_class: str = "malignant"
    # test-time augmentation: also run the left-right mirror and average the probabilities
    # (costs a second segmenter call / doubles the classifier batch; chosen on val)
    segmenter_hflip: bool = False
    classifier_hflip: bool = False

    def __post_init__(self) -> None:
        checks = (
            ("segmentation_threshold", 0.0 < self.segmentation_threshold < 1.0, "in (0, 1)"),
            ("min_lesion_area_fraction", 0.0 <= self.min_lesion_area_fraction < 1.0, "in [0, 1)"),
            ("roi_margin", 0.0 <= self.roi_margin <= 2.0, "in [0, 2]"),
            ("max_lesions", self.max_lesions >= 1, ">= 1"),
            ("decision_threshold", 0.0 <= self.decision_threshold <= 1.0, "in [0, 1]"),
            ("class_names", len(self.class_names) == 2, "two names (negative, positive)"),
            ("positive_class", self.positive_class in self.class_names, "one of class_names"),
            ("segmenter_hflip", isinstance(self.segmenter_hflip, bool), "true or false"),
            ("classifier_hflip", isinstance(self.classifier_hflip, bool), "true or false"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise BundleError(
                    f"manifest: 'pipeline.{name}' is {getattr(self, name)!r}; expected {expected}"
                )

    @property
    def negative_class(self) -> str:
        return next(c for c in self.class_names if c != self.positive_class)

    @property
    def positive_index(self) -> int:
        return self.class_names.index(self.positive_class)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleError(
                f"manifest: unknown key(s) {unknown} in 'pipeline'; accepted: {sorted(known)}"
            )
        values = dict(data)
        if "class_names" in values:
            values["class_names"] = tuple(values["class_names"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise BundleError(f"manifest: bad 'pipeline' section: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        return data


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: schema version, both nets, pipeline parameters and provenance."""

    name: str
    version: str
    segmenter: ModelSpec
    classifier: ModelSpec
    pipeline: PipelineParams = field(default_factory=PipelineParams)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def models(self) -> dict[str, ModelSpec]:
        return {"segmenter": self.segmenter, "classifier": self.classifier}

    def with_artifacts(self, artifacts: Mapping[str, Sequence[ArtifactSpec]]) -> Manifest:
        """A copy in which each named role carries exactly ``artifacts[role]``.

        Roles not named keep theirs. The artifacts' sha256 fields may be placeholders:
        :func:`edge_sdk.write_bundle_manifest` computes them from the files.

        Raises:
            BundleError: a key is not a role.
        """
        unknown = sorted(set(artifacts) - set(self.models))
        if unknown:
            raise BundleError(f"manifest: no net named {unknown}; the roles are "
                              f"{sorted(self.models)}")
        specs = self.models
        for role, items in artifacts.items():
            specs[role] = dataclasses.replace(specs[role], artifacts=tuple(items))
        return dataclasses.replace(self, segmenter=specs["segmenter"],
                                   classifier=specs["classifier"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        if not isinstance(data, Mapping):
            raise BundleError("manifest: the top level must be a JSON object")
        version = _need(data, "schema_version", "manifest")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise BundleError(
                f"manifest: schema_version {version!r} is not supported by this runtime; "
                f"expected one of {list(SUPPORTED_SCHEMA_VERSIONS)}. Fix: re-export the bundle "
                "with a matching toolchain, or upgrade edge-sdk"
            )
        models = _need(data, "models", "manifest")
        return cls(
            schema_version=int(version),
            name=str(_need(data, "name", "manifest")),
            version=str(_need(data, "version", "manifest")),
            segmenter=ModelSpec.from_dict("segmenter", _need(models, "segmenter", "models")),
            classifier=ModelSpec.from_dict("classifier", _need(models, "classifier", "models")),
            pipeline=PipelineParams.from_dict(data.get("pipeline", {})),
            provenance=dict(data.get("provenance", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "version": self.version,
            "models": {role: spec.to_dict() for role, spec in self.models.items()},
            "pipeline": self.pipeline.to_dict(),
            "provenance": dict(self.provenance),
        }
