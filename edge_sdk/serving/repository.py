"""``edge-sdk export-triton``: a bundle as a Triton model repository, checked against Triton's schema.

Layout (``KIND`` is ``onnxruntime`` or ``tensorrt``; ``python`` is the variant that the
``tritonserver`` shipped in ``nvidia-pytriton``, which has only the python backend, can serve)::

    OUT/KIND/                         OUT/python/
      edge_sdk_pipeline/                edge_sdk_pipeline/        (the same model)
        config.pbtxt                    edge_sdk_segmenter/
        1/model.py, 1/bundle/manifest.json  config.pbtxt        backend "python"
      edge_sdk_segmenter/                 1/model.py, 1/model.onnx
        config.pbtxt  onnxruntime_onnx | tensorrt_plan
        1/model.onnx  | 1/model.plan (built on the target)
      edge_sdk_classifier/ ...

``edge_sdk_pipeline`` is a python-backend model running the in-process pipeline with its two nets
called through BLS (:mod:`edge_sdk.serving.triton_python`), so preprocessing, the area of
interest and the crop are the SDK's own code on every server. Every ``config.pbtxt`` is written
from and re-read into Triton's ``ModelConfig`` protobuf (``tritonclient``'s ``model_config_pb2``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_sdk._optional import import_optional
from edge_sdk.bundle import Bundle, default_bundle_path, load_bundle
from edge_sdk.errors import ConfigError
from edge_sdk.manifest import ModelSpec
from edge_sdk.serving import wire
from edge_sdk.serving.server import server_metadata

KINDS = {"onnxruntime": ("onnxruntime", "model.onnx"), "tensorrt": ("tensorrt", "model.plan"),
         "python": ("python", "model.onnx")}
"""Leaf-model kind → (Triton backend, the file in its version folder)."""

LEAF_MODELS = {"segmenter": "edge_sdk_segmenter", "classifier": "edge_sdk_classifier"}

_TRITON_DTYPES = {"uint8": "TYPE_UINT8", "uint32": "TYPE_UINT32", "int32": "TYPE_INT32",
                  "int64": "TYPE_INT64", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
                  "bytes_": "TYPE_STRING"}

_PIPELINE_MODEL_PY = '''"""edge_sdk_pipeline: the edge-sdk pipeline, its nets called through BLS (edge-sdk {version})."""
from edge_sdk.serving.triton_python import PipelineModel as TritonPythonModel  # noqa: F401
'''
_LEAF_MODEL_PY = '''"""{name}: an ONNX net in ONNX Runtime, on Triton's python backend (edge-sdk {version})."""
from edge_sdk.serving.triton_python import OnnxModel as TritonPythonModel  # noqa: F401
'''


def model_config_pb2() -> Any:
    """Triton's model-config protobuf module, as ``tritonclient`` ships it."""
    return import_optional("tritonclient.grpc.model_config_pb2", "serve",
                           "Writing and checking Triton model configurations")


def config_text(config: Mapping[str, Any]) -> str:
    """A model config (protobuf JSON field names) as ``config.pbtxt`` text, through the protobuf."""
    from google.protobuf import json_format, text_format

    message = json_format.ParseDict(dict(config), model_config_pb2().ModelConfig())
    text = text_format.MessageToString(message)
    if config.get("max_batch_size", 0) == 0:  # proto3 drops zeros; Triton wants it spelled out
        text += "max_batch_size: 0\n"
    return text


def parse_config(path: str | Path) -> Any:
    """Parse a ``config.pbtxt`` into Triton's ``ModelConfig`` (a typo or unknown field fails).

    Raises:
        ConfigError: the file does not parse as a Triton model config; the message says where.
    """
    from google.protobuf import text_format

    path = Path(path)
    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2().ModelConfig())
    except (text_format.ParseError, OSError) as exc:
        raise ConfigError(f"triton repository: {path} is not a valid Triton model config: {exc}. "
                          "Fix: compare with Triton's model_config.proto, or export again") from None


def _dims(shape: tuple[int, ...]) -> list[int]:
    return [int(d) for d in shape]


def _tensor(name: str, dtype: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    import numpy as np

    return {"name": name, "data_type": _TRITON_DTYPES[np.dtype(dtype).name if dtype is not np.bytes_
                                                      else "bytes_"], "dims": _dims(shape)}


def _parameters(values: Mapping[str, str]) -> dict[str, Any]:
    return {key: {"string_value": value} for key, value in values.items()}


def pipeline_config(bundle: Bundle, instances: int, max_batch_size: int,
                    max_queue_delay_us: int) -> dict[str, Any]:
    """``edge_sdk_pipeline``: the wire format of :mod:`edge_sdk.serving.wire`, dynamic batching."""
    metadata = server_metadata(bundle, bundle.manifest.pipeline)
    metadata.update({f"edge_sdk.{role}_model": name for role, name in LEAF_MODELS.items()})
    return {
        "name": wire.MODEL_NAME, "backend": "python", "max_batch_size": max_batch_size,
        "input": [_tensor(wire.INPUT, "uint8", (-1, -1, -1))],
        "output": [_tensor(n, d, s) for n, d, s in wire.OUTPUTS],
        "dynamic_batching": {"max_queue_delay_microseconds": max_queue_delay_us},
        "instance_group": [{"kind": "KIND_CPU", "count": instances}],
        "parameters": _parameters(metadata),
    }


def onnx_output_dims(path: Path, name: str) -> list[int]:
    """The dims of output ``name`` of an ONNX model, -1 where dynamic (read by ONNX Runtime)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for output in session.get_outputs():
        if output.name == name:
            return [d if isinstance(d, int) and d > 0 else -1 for d in output.shape]
    raise ConfigError(f"{path}: no output {name!r}; the manifest names it. Fix: re-export the bundle")


def leaf_config(spec: ModelSpec, kind: str, threads: int, output_dims: list[int]) -> dict[str, Any]:
    """A net's config: its manifest input and output, batch axis explicit (``max_batch_size: 0``)."""
    backend, _ = KINDS[kind]
    config: dict[str, Any] = {
        "name": LEAF_MODELS[spec.role], "max_batch_size": 0,
        "input": [_tensor(spec.input.name, "float32", spec.input.shape)],
        "output": [{"name": spec.output.name, "data_type": "TYPE_FP32", "dims": output_dims}],
        "instance_group": [{"kind": "KIND_GPU" if kind == "tensorrt" else "KIND_CPU", "count": 1}],
    }
    if kind == "tensorrt":
        config["platform"] = "tensorrt_plan"
    else:
        config["backend"] = backend
    if kind == "onnxruntime":
        config["parameters"] = _parameters({"intra_op_thread_count": str(threads)})
    elif kind == "python":
        config["parameters"] = _parameters({"threads": str(threads)})
    return config


def _write_model(root: Path, config: Mapping[str, Any], files: Mapping[str, bytes | Path]) -> None:
    model_dir = root / config["name"]
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(config_text(config), encoding="utf-8")
    for name, content in files.items():
        target = model_dir / "1" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)


def write_repository(bundle: Bundle, out: Path, kind: str, instances: int = 1, threads: int = 1,
                     max_batch_size: int = 8, max_queue_delay_us: int = 1000) -> Path:
    """Write one model repository of ``kind`` for ``bundle`` into ``out`` (emptied first)."""
    from edge_sdk import __version__

    if kind not in KINDS:
        raise ConfigError(f"triton repository kind {kind!r}; expected one of {sorted(KINDS)}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _write_model(out, pipeline_config(bundle, instances, max_batch_size, max_queue_delay_us), {
        "model.py": _PIPELINE_MODEL_PY.format(version=__version__).encode(),
        "bundle/manifest.json": (bundle.root / "manifest.json").read_bytes(),
    })
    notes = []
    for role, name in LEAF_MODELS.items():
        spec = bundle.manifest.models[role]
        files: dict[str, bytes | Path] = {}
        if kind == "tensorrt":
            notes.append(f"- {name}/1/model.plan: build it on the target GPU from {spec.file} "
                         f"(`edge-sdk build-engine` or trtexec --onnx={name}/1/model.onnx "
                         f"--saveEngine={name}/1/model.plan), with the TensorRT of that server")
        files["model.onnx"] = bundle.model_path(role)
        if kind == "python":
            files["model.py"] = _LEAF_MODEL_PY.format(name=name, version=__version__).encode()
        dims = onnx_output_dims(bundle.model_path(role), spec.output.name)
        _write_model(out, leaf_config(spec, kind, threads, dims), files)
    if notes:
        (out / "BUILD_ENGINES.md").write_text(
            "# Engines to build on the target\n\nA TensorRT plan is specific to the GPU and the "
            "TensorRT version that built it, so this repository carries the ONNX models; build:\n\n"
            + "\n".join(notes) + "\n", encoding="utf-8")
    validate_repository(out, kind)
    return out


def validate_repository(root: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Check a repository: every ``config.pbtxt`` parses into Triton's ``ModelConfig``, names
    match folders, each model has its version folder and file, the BLS targets exist.

    Returns:
        Model name → parsed ``ModelConfig``.

    Raises:
        ConfigError: the first problem found, with the file it is in.
    """
    root = Path(root)
    configs = {p.parent.name: parse_config(p) for p in sorted(root.glob("*/config.pbtxt"))}
    if wire.MODEL_NAME not in configs:
        raise ConfigError(f"triton repository {root}: no {wire.MODEL_NAME}/config.pbtxt; found "
                          f"{sorted(configs)}. Fix: export with edge-sdk export-triton")
    for name, config in configs.items():
        where = f"triton repository: {root / name / 'config.pbtxt'}"
        if config.name != name:
            raise ConfigError(f"{where}: name '{config.name}' differs from its folder '{name}'")
        backend = config.backend or config.platform
        wanted = {"python": "model.py", "onnxruntime": "model.onnx",
                  "tensorrt_plan": "model.plan"}.get(backend)
        if wanted is None:
            raise ConfigError(f"{where}: backend '{backend}'; expected python, onnxruntime or "
                              "platform tensorrt_plan")
        if backend != "tensorrt_plan" and not (root / name / "1" / wanted).is_file():
            raise ConfigError(f"{where}: version folder 1/ lacks {wanted}")
        if not config.input or not config.output:
            raise ConfigError(f"{where}: a model needs inputs and outputs")
    params = {k: v.string_value for k, v in configs[wire.MODEL_NAME].parameters.items()}
    for role in LEAF_MODELS:
        target = params.get(f"edge_sdk.{role}_model")
        if target not in configs:
            raise ConfigError(f"triton repository {root}: {wire.MODEL_NAME} calls {role} model "
                              f"{target!r}, which is not in the repository ({sorted(configs)})")
    if kind is not None:
        backend = KINDS[kind][0]
        for name in LEAF_MODELS.values():
            got = configs[name].backend or configs[name].platform
            if got != ("tensorrt_plan" if kind == "tensorrt" else backend):
                raise ConfigError(f"triton repository {root}: {name} runs on '{got}'; a {kind} "
                                  "repository expects its own backend")
    return configs


def export_repository(bundle: str | Path | Bundle | None, out: str | Path, kind: str = "onnxruntime",
                      instances: int = 1, threads: int = 1, max_batch_size: int = 8,
                      max_queue_delay_us: int = 1000) -> dict[str, Path]:
    """Write ``OUT/<kind>`` (for a production Triton) and ``OUT/python`` (for the bundled one).

    Returns:
        Kind → repository path.
    """
    if kind not in ("onnxruntime", "tensorrt"):
        raise ConfigError(f"export-triton --kind {kind!r}; expected onnxruntime or tensorrt (the "
                          "python variant is always written beside it)")
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle if bundle is not None else default_bundle_path())
    out = Path(out)
    options = {"instances": instances, "threads": threads, "max_batch_size": max_batch_size,
               "max_queue_delay_us": max_queue_delay_us}
    written = {k: write_repository(bundle, out / k, k, **options) for k in (kind, "python")}
    (out / "edge_sdk_repository.json").write_text(json.dumps({
        "bundle": bundle.manifest.name, "bundle_version": bundle.manifest.version,
        "bundle_digest": bundle.digest, "repositories": {k: str(p.name) for k, p in written.items()},
    }, indent=2) + "\n", encoding="utf-8")
    return written
