"""The python-backend models of an exported Triton repository (run inside ``tritonserver``).

Each exported ``model.py`` is two lines that import a class from here, so the logic lives in the
package (tested, versioned) and the repository carries no copy of it:

- :class:`PipelineModel` (``edge_sdk_pipeline``): a real :class:`~edge_sdk.Pipeline` whose two
  nets are other Triton models, called through BLS (business logic scripting) by
  :class:`TritonBLSBackend`. Preprocessing, the area of interest, the crop and the result are
  the in-process code, so the answers are the in-process answers.
- :class:`OnnxModel` (``edge_sdk_segmenter`` / ``edge_sdk_classifier`` of the python-only
  variant): one ONNX file in ONNX Runtime, with the same inputs and outputs that Triton's
  ``onnxruntime_onnx`` backend would give it.

``triton_python_backend_utils`` exists only inside Triton's stub, so it is imported in the
methods that Triton calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk.backends import BACKENDS, Backend, TensorSpec
from edge_sdk.bundle import Bundle, file_sha256
from edge_sdk.errors import BackendError, BundleError
from edge_sdk.manifest import Manifest, PipelineParams

BLS_KIND = "triton-bls"
"""Backend kind of :class:`TritonBLSBackend` in :data:`edge_sdk.backends.BACKENDS`."""


def _pb() -> Any:
    import triton_python_backend_utils as pb_utils  # only inside tritonserver's python stub

    return pb_utils


def _parameters(args: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    config = json.loads(args["model_config"])
    params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
    return config, params


def _model_dir(args: Mapping[str, str]) -> Path:
    return Path(args["model_repository"]) / args["model_version"]


class TritonBLSBackend(Backend):
    """An edge-sdk backend whose net is another model on the same Triton server (BLS).

    Args:
        model_name: The Triton model to call.
        input_spec: The net's input (name, NCHW shape with None for dynamic, float32).
        output_name: The output to ask for.
    """

    name = BLS_KIND

    def __init__(self, model_name: str, input_spec: TensorSpec, output_name: str) -> None:
        super().__init__()
        self.model_name, self.input_spec, self.output_name = model_name, input_spec, output_name

    @classmethod
    def from_bundle(cls, bundle: Any, role: str, **options: Any) -> Backend:
        spec = bundle.manifest.models[role]
        shape = tuple(None if d == -1 else d for d in spec.input.shape)
        return cls(options["models"][role], TensorSpec(spec.input.name, shape, np.dtype(np.float32)),
                   spec.output.name)

    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        return (self.input_spec,), (TensorSpec(self.output_name, (None,), np.dtype(np.float32)),)

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        pb = _pb()
        request = pb.InferenceRequest(
            model_name=self.model_name, requested_output_names=[self.output_name],
            inputs=[pb.Tensor(name, np.ascontiguousarray(array)) for name, array in feed.items()])
        response = request.exec()
        if response.has_error():
            raise BackendError(f"{self.name}: model {self.model_name} failed: "
                               f"{response.error().message()}")
        return {self.output_name: pb.get_output_tensor_by_name(response, self.output_name).as_numpy()}

    def _deactivate(self) -> None:
        pass


def _response(outputs: Mapping[str, np.ndarray]) -> Any:
    pb = _pb()
    tensors = [pb.Tensor(name, array.astype(np.object_) if array.dtype.kind == "S" else array)
               for name, array in outputs.items()]
    return pb.InferenceResponse(output_tensors=tensors)


class PipelineModel:
    """``edge_sdk_pipeline``: frame in, the wire outputs of :mod:`edge_sdk.serving.wire` out."""

    def initialize(self, args: Mapping[str, str]) -> None:
        from edge_sdk.pipeline import Pipeline

        _, params = _parameters(args)
        root = _model_dir(args) / "bundle"
        raw = (root / "manifest.json").read_bytes()
        manifest = Manifest.from_dict(json.loads(raw))
        models = {"segmenter": params["edge_sdk.segmenter_model"],
                  "classifier": params["edge_sdk.classifier_model"]}
        self._verify_leaf_files(Path(args["model_repository"]).parent, manifest, models)
        import hashlib

        bundle = Bundle(root=root, manifest=manifest, digest=hashlib.sha256(raw).hexdigest())
        BACKENDS.setdefault(BLS_KIND, TritonBLSBackend)
        self.pipeline = Pipeline(bundle, backend=BLS_KIND, backend_options={"models": models},
                                 params=PipelineParams.from_dict(
                                     json.loads(params["edge_sdk.pipeline"])))

    @staticmethod
    def _verify_leaf_files(repository: Path, manifest: Manifest, models: Mapping[str, str]) -> None:
        """The nets served beside this model must be the bundle's (sha256 from the manifest)."""
        for role, model in models.items():
            spec = manifest.models[role]
            path = repository / model / "1" / "model.onnx"
            if path.is_file() and file_sha256(path) != spec.sha256:
                raise BundleError(f"triton repository: {path} is not the bundle's {role} "
                                  f"({spec.file}, sha256 {spec.sha256[:12]}). Fix: export the "
                                  "repository again with edge-sdk export-triton")

    def execute(self, requests: list[Any]) -> list[Any]:
        from edge_sdk.serving.server import answer_frames
        from edge_sdk.serving.wire import INPUT

        pb = _pb()
        return [_response(answer_frames(self.pipeline,
                                        pb.get_input_tensor_by_name(r, INPUT).as_numpy()))
                for r in requests]

    def finalize(self) -> None:
        self.pipeline.close()


class OnnxModel:
    """A leaf net of the python-only variant: the ONNX file beside it, in ONNX Runtime."""

    def initialize(self, args: Mapping[str, str]) -> None:
        from edge_sdk.backends import OnnxRuntimeBackend

        config, params = _parameters(args)
        threads = int(params.get("threads") or 1)
        self.backend = OnnxRuntimeBackend(_model_dir(args) / "model.onnx", threads=threads).activate()
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = _pb()
        responses = []
        for request in requests:
            feed = {name: pb.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            out = self.backend.infer(feed)
            # copies: the backend may reuse its output arrays on the next call
            responses.append(_response({name: np.array(out[name]) for name in self.outputs}))
        return responses

    def finalize(self) -> None:
        self.backend.deactivate()
