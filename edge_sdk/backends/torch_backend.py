"""PyTorch backend: runs a ``torch.export`` program (``.pt2``) of the same trained weights.

Two jobs: the GPU path on machines without TensorRT (CUDA, optional FP16, channels-last, CUDA
graphs), and the ``torch-fp32`` baseline on the CPU — what a researcher would run instead of
the SDK. Needs the ``export`` extra (PyTorch); imported on activation only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._optional import import_optional
from edge_sdk.backends.base import Backend, TensorSpec
from edge_sdk.errors import BackendError, BundleError, ConfigError


def _torch() -> Any:
    return import_optional("torch", "export", "The torch backend")


class TorchBackend(Backend):
    """Runs a ``.pt2`` program whose forward takes the net's input by name and returns a dict
    ``{output_name: tensor}`` (what ``export.torch_program.to_torch_program`` writes).

    Args:
        program_path: The ``.pt2`` file.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
        half: Run in FP16 (CUDA only; asked for explicitly, never chosen silently).
        channels_last: Feed NHWC-strided tensors (faster convolutions on tensor cores).
        cuda_graph: Capture each input shape once into a CUDA graph and replay it.
        threads: CPU threads for PyTorch (``torch.set_num_threads``; process-wide).

    Output arrays are new NumPy arrays owned by the caller.
    """

    name = "torch"
    process_wide_threads = True
    """``torch.set_num_threads`` sets one pool for the whole process, not one per net."""

    def __init__(self, program_path: str | Path, device: str = "auto", half: bool = False,
                 channels_last: bool = False, cuda_graph: bool = False,
                 threads: int | None = None) -> None:
        super().__init__()
        self.program_path = Path(program_path)
        self.device_request = device
        self.half = half
        self.channels_last = channels_last
        self.cuda_graph = cuda_graph
        self.threads = threads
        self.device = "cpu"
        self._module: Any = None
        self._by_keyword = False
        self._graphs: dict[tuple[int, ...], tuple[Any, Any, dict[str, Any]]] = {}

    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        torch = _torch()
        if not self.program_path.is_file():
            raise BackendError(f"torch: program file {self.program_path} does not exist")
        cuda = torch.cuda.is_available()
        device = ("cuda" if cuda else "cpu") if self.device_request == "auto" else self.device_request
        if device.startswith("cuda") and not cuda:
            raise ConfigError(f"torch: device {device!r} asked for but CUDA is not available "
                              f"(torch {torch.__version__}); use device='cpu'")
        if (self.half or self.cuda_graph) and not device.startswith("cuda"):
            raise ConfigError("torch: half=True and cuda_graph=True need a CUDA device; "
                              f"this backend runs on {device}")
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            program = torch.export.load(str(self.program_path))
        except Exception as exc:  # torch raises many unrelated types for a bad file
            raise BackendError(f"torch could not load {self.program_path}: {exc}") from exc
        names = list(program.graph_signature.user_inputs)
        if len(names) != 1:
            raise BackendError(f"torch: {self.program_path} takes inputs {names}; expected one image")
        placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
        value = placeholders[names[0]].meta["val"]
        shape = tuple(int(d) if isinstance(d, int) else None for d in value.shape)
        out_spec = program.call_spec.out_spec
        keys = list(getattr(out_spec, "context", None) or [])
        if not keys:
            raise BackendError(f"torch: {self.program_path} must return a dict of named outputs")
        nodes = {n.name: n for n in program.graph.nodes}
        out_shapes = [
            tuple(int(d) if isinstance(d, int) else None for d in nodes[name].meta["val"].shape)
            for name in program.graph_signature.user_outputs
        ]
        in_spec = program.call_spec.in_spec  # (args, kwargs)
        kwargs_spec = in_spec.child(1) if hasattr(in_spec, "child") else in_spec.children_specs[1]
        self._by_keyword = names[0] in list(kwargs_spec.context or [])
        module = program.module().to(device)
        if self.half:
            module = module.half()
        self._module = module
        self.device = device
        float32 = np.dtype(np.float32)
        outputs = tuple(TensorSpec(k, shape, float32) for k, shape in zip(keys, out_shapes))
        return (TensorSpec(names[0], shape, float32),), outputs

    def _prepare(self, array: np.ndarray) -> Any:
        torch = _torch()
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=True)
        if self.half:
            tensor = tensor.half()
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = _torch()
        (spec,) = self._inputs
        array = feed[spec.name]
        with torch.inference_mode():
            if self.cuda_graph:
                result = self._replay(array)
            else:
                result = self._call(self._prepare(array))
            return {k: v.float().cpu().numpy() for k, v in result.items()}

    def _call(self, tensor: Any) -> dict[str, Any]:
        (spec,) = self._inputs
        return self._module(**{spec.name: tensor}) if self._by_keyword else self._module(tensor)

    def _replay(self, array: np.ndarray) -> dict[str, Any]:
        torch = _torch()
        entry = self._graphs.get(array.shape)
        if entry is None:
            static_in = self._prepare(array)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up allocations outside the capture
                    self._call(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._call(static_in)
            entry = (graph, static_in, static_out)
            self._graphs[array.shape] = entry
        graph, static_in, static_out = entry
        static_in.copy_(self._prepare(array))
        graph.replay()
        return {k: v.clone() for k, v in static_out.items()}

    def _deactivate(self) -> None:
        self._graphs.clear()
        self._module = None

    @classmethod
    def from_bundle(cls, bundle: Any, role: str, **options: Any) -> TorchBackend:
        """A backend for ``role`` from the bundle's ``torch`` artifact."""
        spec = bundle.manifest.models[role]
        artifacts = spec.artifacts_of("torch")
        if not artifacts:
            raise BundleError(
                f"bundle: {bundle.root} has no torch program for the {role}, which the torch "
                "backend runs. Fix: write a copy with programs made from the bundle's fp32 "
                "weights (needs the export extra): python -m export.torch_program --bundle "
                f"{bundle.root} --out COPY, then use --bundle COPY; or pick another backend "
                "(--backend onnxruntime)")
        return cls.create(bundle.artifact_path(role, artifacts[0]), **options)  # type: ignore[return-value]
