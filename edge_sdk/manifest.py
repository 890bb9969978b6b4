"""The model-bundle manifest: what each net expects and how the pipeline uses it.

The manifest is plain JSON (``manifest.json`` beside the model files). These dataclasses parse
and validate it, so that a bad bundle fails at load time with a message naming the field, never
halfway through a scan.

Parsing is strict: every field typed, ranged and finite; clinical parameters (the ``pipeline``
section, each net's ``normalization``, the class names) required, never defaulted; unknown keys
refused with their path. Only ``provenance`` and an artifact's ``meta`` are free-form (bounded).
The same rules, for other tools, are in ``docs/manifest.schema.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

from edge_sdk import jsoncheck as jc
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
MAX_DIM = 8192
"""Largest input height or width a manifest may declare."""
MAX_LESIONS = 64
# what a frame's image-level malignancy is when no region passed the thresholds (see
# PipelineParams.no_lesion_score)
NO_LESION_SCORES = ("zero", "peak_region")
"""Largest ``pipeline.max_lesions`` accepted (each lesion is one classifier crop per frame)."""
MAX_ARTIFACTS = 64


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
        where = f"input {self.name!r}"
        jc.string(self.name, f"{where}.name")
        shape = jc.int_tuple(self.shape, f"{where}.shape")
        if len(shape) != 4:
            raise jc.fail(f"{where}.shape", list(shape), "NCHW: a list of 4 integers")
        if not (shape[0] == -1 or 1 <= shape[0] <= 1024) or any(
                not 1 <= d <= MAX_DIM for d in shape[1:]):
            raise jc.fail(f"{where}.shape", list(shape), "positive sizes (height and width at "
                          f"most {MAX_DIM}, batch at most 1024), -1 allowed only for the batch")
        jc.choice(self.dtype, INPUT_DTYPES, f"{where}.dtype")
        jc.choice(self.color, COLOR_MODES, f"{where}.color")
        channels = 1 if self.color == "gray" else 3
        if shape[1] != channels:
            raise jc.fail(f"{where}.shape", list(shape), f"{channels} channel(s) at index 1, as "
                          f"colour mode '{self.color}' has")
        scale = jc.real(self.scale, f"{where}.normalization.scale", 0.0, 1e6, low_open=True)
        mean = jc.real_tuple(self.mean, f"{where}.normalization.mean")
        std = jc.real_tuple(self.std, f"{where}.normalization.std", positive=True)
        for label, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise jc.fail(f"{where}.normalization.{label}", list(values),
                              f"1 or {channels} values")
        # numpy scalars from the toolchain become plain Python numbers (JSON-ready, hashable)
        for name, value in (("shape", shape), ("scale", scale), ("mean", mean), ("std", std)):
            object.__setattr__(self, name, value)

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
        """Parse ``data`` (the JSON object at path ``where``); errors name the field's path."""
        data = jc.obj(data, where, ("name", "shape", "color", "normalization"), ("dtype",))
        norm = jc.obj(data["normalization"], f"{where}.normalization", ("scale", "mean", "std"))
        shape = jc.array(data["shape"], f"{where}.shape", 4, 4)
        for i, dim in enumerate(shape):
            if dim != -1:
                jc.integer(dim, f"{where}.shape[{i}]", 1, MAX_DIM if i else 1024)
        values = {}
        for label in ("mean", "std"):
            items = jc.array(norm[label], f"{where}.normalization.{label}", 1, 3)
            values[label] = tuple(
                jc.number(v, f"{where}.normalization.{label}[{i}]", 0.0 if label == "std" else -1e6,
                          1e6, low_open=label == "std") for i, v in enumerate(items))
        name = jc.string(data["name"], f"{where}.name")
        try:
            return cls(name=name, shape=tuple(shape),
                       dtype=jc.choice(data.get("dtype", "float32"), INPUT_DTYPES, f"{where}.dtype"),
                       color=jc.choice(data["color"], COLOR_MODES, f"{where}.color"),
                       scale=jc.number(norm["scale"], f"{where}.normalization.scale", 0.0, 1e6,
                                       low_open=True),
                       mean=values["mean"], std=values["std"])
        except BundleError as exc:  # a cross-field check: name the path, not the input's name
            raise BundleError(str(exc).replace(f"input {name!r}", where, 1)) from None

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

    def __post_init__(self) -> None:
        jc.string(self.name, f"output {self.name!r}.name")
        jc.string(self.meaning, f"output {self.name!r}.meaning")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> OutputSpec:
        data = jc.obj(data, where, ("name", "meaning"))
        return cls(jc.string(data["name"], f"{where}.name"),
                   jc.string(data["meaning"], f"{where}.meaning"))

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
        where = f"artifact {self.file!r}"
        jc.choice(self.kind, ARTIFACT_KINDS, f"{where}.kind")
        jc.file_name(self.file, f"{where}.file")
        jc.sha256(self.sha256, f"{where}.sha256")
        if not isinstance(self.meta, Mapping):
            raise jc.fail(f"{where}.meta", self.meta, "a JSON object")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ArtifactSpec:
        data = jc.obj(data, where, ("kind", "file", "sha256"), ("meta",))
        kind = jc.choice(data["kind"], ARTIFACT_KINDS, f"{where}.kind")
        file = jc.file_name(data["file"], f"{where}.file")
        jc.sha256(data["sha256"], f"{where}.sha256")
        return cls(kind=kind, file=file, sha256=data["sha256"],
                   meta=jc.free_form(data.get("meta", {}), f"{where}.meta"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "sha256": self.sha256, "meta": dict(self.meta)}


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
        jc.choice(self.role, MODEL_ROLES, "models.<role>")
        where = f"models.{self.role}"
        jc.file_name(self.file, f"{where}.file")
        jc.choice(self.precision, PRECISIONS, f"{where}.precision")
        jc.sha256(self.sha256, f"{where}.sha256")
        if not isinstance(self.input, InputSpec):
            raise jc.fail(f"{where}.input", self.input, "an InputSpec")
        if not isinstance(self.outputs, tuple) or len(self.outputs) != 1 or not all(
                isinstance(o, OutputSpec) for o in self.outputs):
            raise jc.fail(f"{where}.outputs", self.outputs, "exactly one output")
        if not isinstance(self.artifacts, tuple) or len(self.artifacts) > MAX_ARTIFACTS or not all(
                isinstance(a, ArtifactSpec) for a in self.artifacts):
            raise jc.fail(f"{where}.artifacts", self.artifacts,
                          f"a tuple of at most {MAX_ARTIFACTS} ArtifactSpec")
        allowed = (
            SEGMENTER_OUTPUT_MEANINGS if self.role == "segmenter" else CLASSIFIER_OUTPUT_MEANINGS
        )
        jc.choice(self.outputs[0].meaning, allowed, f"{where}.outputs[0].meaning")
        if self.role == "segmenter" and self.input.dynamic_batch:
            raise jc.fail(f"{where}.input.shape", list(self.input.shape),
                          "a fixed batch of 1 for the segmenter (one frame at a time)")

    @property
    def output(self) -> OutputSpec:
        return self.outputs[0]

    def artifacts_of(self, kind: str) -> list[ArtifactSpec]:
        """This net's artifacts of one kind (one of :data:`ARTIFACT_KINDS`)."""
        return [a for a in self.artifacts if a.kind == kind]

    @classmethod
    def from_dict(cls, role: str, data: Mapping[str, Any]) -> ModelSpec:
        where = f"models.{role}"
        data = jc.obj(data, where, ("file", "sha256", "precision", "input", "outputs"),
                      ("artifacts",))
        outputs = jc.array(data["outputs"], f"{where}.outputs", 1, 1)
        artifacts = jc.array(data.get("artifacts", []), f"{where}.artifacts", 0, MAX_ARTIFACTS)
        jc.sha256(data["sha256"], f"{where}.sha256")
        return cls(
            role=role,
            file=jc.file_name(data["file"], f"{where}.file"),
            sha256=data["sha256"],
            precision=jc.choice(data["precision"], PRECISIONS, f"{where}.precision"),
            input=InputSpec.from_dict(data["input"], f"{where}.input"),
            outputs=tuple(OutputSpec.from_dict(o, f"{where}.outputs[{i}]")
                          for i, o in enumerate(outputs)),
            artifacts=tuple(ArtifactSpec.from_dict(a, f"{where}.artifacts[{i}]")
                            for i, a in enumerate(artifacts)),
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
    # image-level malignancy of a frame where no region passed: "zero", or "peak_region" (the
    # classifier's score of the area around the map's highest probability; no lesion is
    # reported, only the frame's score, so that a segmenter miss does not zero the score)
    no_lesion_score: str = "zero"
    # a region is a lesion only where its highest probability reaches this (0: no such check);
    # a faint region's peak stays low, so this drops false alarms on normal frames while a low
    # threshold and small minimum area keep all of a lesion that shows as several regions
    min_lesion_peak: float = 0.0

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("segmentation_threshold", jc.real(self.segmentation_threshold,
                                            "pipeline.segmentation_threshold", 0.0, 1.0, True, True))
        put("min_lesion_area_fraction", jc.real(self.min_lesion_area_fraction,
                                              "pipeline.min_lesion_area_fraction", 0.0, 1.0,
                                              high_open=True))
        put("roi_margin", jc.real(self.roi_margin, "pipeline.roi_margin", 0.0, 2.0))
        put("decision_threshold", jc.real(self.decision_threshold, "pipeline.decision_threshold",
                                        0.0, 1.0))
        if isinstance(self.max_lesions, bool) or not isinstance(self.max_lesions, Integral):
            raise jc.fail("pipeline.max_lesions", self.max_lesions,
                          f"an integer in [1, {MAX_LESIONS}]")
        put("min_lesion_peak", jc.real(self.min_lesion_peak, "pipeline.min_lesion_peak", 0.0, 1.0))
        put("max_lesions", jc.integer(int(self.max_lesions), "pipeline.max_lesions", 1,
                                      MAX_LESIONS))
        names = self.class_names
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or len(names) != 2 \
                or not all(isinstance(n, str) and n for n in names) or names[0] == names[1]:
            raise jc.fail("pipeline.class_names", names, "a list of two different names "
                          "(negative, positive), e.g. [\"benign\", \"malignant\"]")
        put("class_names", tuple(jc.string(n, f"pipeline.class_names[{i}]")
                                 for i, n in enumerate(names)))
        if not isinstance(self.positive_class, str) or self.positive_class not in names:
            raise jc.fail("pipeline.positive_class", self.positive_class,
                          f"one of class_names {list(names)}")
        for flag in ("segmenter_hflip", "classifier_hflip"):
            jc.boolean(getattr(self, flag), f"pipeline.{flag}")
        if self.no_lesion_score not in NO_LESION_SCORES:
            raise jc.fail("pipeline.no_lesion_score", self.no_lesion_score,
                          f"one of {list(NO_LESION_SCORES)}")

    @property
    def negative_class(self) -> str:
        return next(c for c in self.class_names if c != self.positive_class)

    @property
    def positive_index(self) -> int:
        return self.class_names.index(self.positive_class)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineParams:
        """Parse the ``pipeline`` section: every field required (all are clinical choices),
        except those added later, whose defaults are what older bundles did: no mirror passes,
        a score of 0 for a frame without a lesion, and no check of a region's peak."""
        optional = ("segmenter_hflip", "classifier_hflip", "no_lesion_score", "min_lesion_peak")
        names = [f.name for f in dataclasses.fields(cls) if f.name not in optional]
        data = jc.obj(data, "pipeline", names, optional)
        values = dict(data)
        values["class_names"] = tuple(jc.array(data["class_names"], "pipeline.class_names", 2, 2))
        for name in ("segmentation_threshold", "min_lesion_area_fraction", "roi_margin",
                     "decision_threshold", "min_lesion_peak"):
            if name not in values:
                continue
            if isinstance(values[name], bool) or not isinstance(values[name], (int, float)):
                raise jc.fail(f"pipeline.{name}", values[name], "a finite number")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names)
        if self.no_lesion_score == "zero":  # what its absence means: older manifests round-trip
            del data["no_lesion_score"]
        if self.min_lesion_peak == 0.0:
            del data["min_lesion_peak"]
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

    def __post_init__(self) -> None:
        jc.string(self.name, "name")
        jc.string(self.version, "version", max_len=64)
        for role in MODEL_ROLES:
            spec = getattr(self, role)
            if not isinstance(spec, ModelSpec) or spec.role != role:
                raise jc.fail(f"models.{role}", spec, f"a ModelSpec of role '{role}'")
        if not isinstance(self.pipeline, PipelineParams):
            raise jc.fail("pipeline", self.pipeline, "a PipelineParams")
        if not isinstance(self.provenance, Mapping):
            raise jc.fail("provenance", self.provenance, "a JSON object")
        if isinstance(self.schema_version, bool) or \
                self.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
            raise jc.fail("schema_version", self.schema_version,
                          f"one of {list(SUPPORTED_SCHEMA_VERSIONS)}")

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
        """Parse a whole manifest (parsed JSON); every error names the field's path."""
        if not isinstance(data, Mapping):
            raise jc.fail("(top level)", data, "a JSON object")
        version = data.get("schema_version")
        if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
            raise BundleError(
                f"manifest: schema_version {version!r} is not supported by this runtime; "
                f"expected one of {list(SUPPORTED_SCHEMA_VERSIONS)}. Fix: re-export the bundle "
                "with a matching toolchain, or upgrade edge-sdk"
            )
        data = jc.obj(data, "manifest", ("schema_version", "name", "version", "models",
                                         "pipeline"), ("provenance",))
        models = jc.obj(data["models"], "models", MODEL_ROLES)
        return cls(
            schema_version=version,
            name=jc.string(data["name"], "name"),
            version=jc.string(data["version"], "version", max_len=64),
            segmenter=ModelSpec.from_dict("segmenter", models["segmenter"]),
            classifier=ModelSpec.from_dict("classifier", models["classifier"]),
            pipeline=PipelineParams.from_dict(data["pipeline"]),
            provenance=jc.free_form(data.get("provenance", {}), "provenance"),
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
