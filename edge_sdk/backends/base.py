"""The backend contract: public lifecycle and checks here, small private hooks in subclasses.

Modelled on Polygraphy's runners: ``activate()`` / ``infer()`` / ``deactivate()`` (or ``with``)
live once in this base class and do the shared work (state checks, input checks against the
declared specs, timing); a backend implements only ``_activate``, ``_infer`` and ``_deactivate``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from edge_sdk.errors import BackendError, ConfigError


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one input or output. ``None`` marks a dynamic dimension."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    def check(self, array: object) -> None:
        """Raise :class:`BackendError` unless ``array`` matches this spec."""
        if not isinstance(array, np.ndarray):
            raise BackendError(f"input '{self.name}' is a {type(array).__name__}; expected a "
                               f"numpy array of shape {self.shape_text} and dtype {self.dtype}")
        shape_ok = len(array.shape) == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, array.shape)
        )
        if not shape_ok or array.dtype != self.dtype:
            raise BackendError(
                f"input '{self.name}' has shape {tuple(array.shape)} and dtype {array.dtype}; "
                f"expected shape {self.shape_text} and dtype {self.dtype}"
            )

    @property
    def shape_text(self) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + ")"


class Backend:
    """Base class of every inference backend.

    Output ownership: the arrays returned by :meth:`infer` may be reused by the backend's next
    call (the TensorRT backend writes into fixed pinned buffers). Copy them if you keep them.

    Attributes:
        last_latency_ms: Wall-clock time of the latest :meth:`infer` call (inputs checked,
            inference run, outputs ready on the host).
        calls: Number of completed :meth:`infer` calls since activation.
        total_latency_ms: Sum of the latencies of those calls (the benchmarks read deltas of it
            to separate the nets' time from the SDK's own).
    """

    name = "backend"

    def __init__(self) -> None:
        self._active = False
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()
        self.last_latency_ms = 0.0
        self.calls = 0
        self.total_latency_ms = 0.0

    # ---- public lifecycle -------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self._active

    def activate(self) -> Backend:
        """Load the model and allocate resources. Returns ``self``."""
        if self._active:
            raise BackendError(f"{self.name}: activate() called twice; call deactivate() first")
        self._inputs, self._outputs = self._activate()
        self._active = True
        self.calls = 0
        self.total_latency_ms = 0.0
        return self

    def deactivate(self) -> None:
        """Release every resource. Safe to call on an inactive backend."""
        if self._active:
            self._active = False
            self._deactivate()

    def __enter__(self) -> Backend:
        return self.activate()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        self._require_active("input_specs")
        return self._inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        self._require_active("output_specs")
        return self._outputs

    def infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model once.

        Args:
            feed: One array per declared input, by name.

        Returns:
            One array per declared output, by name (see the ownership note on the class).

        Raises:
            BackendError: not activated, an input missing or unexpected, or a shape/dtype that
                does not match the declared spec.
        """
        self._require_active("infer()")
        expected = {spec.name for spec in self._inputs}
        if set(feed) != expected:
            raise BackendError(
                f"{self.name}: inputs {sorted(feed)} given; expected exactly {sorted(expected)}"
            )
        for spec in self._inputs:
            spec.check(feed[spec.name])
        start = time.perf_counter_ns()
        outputs = self._infer(feed)
        self.last_latency_ms = (time.perf_counter_ns() - start) / 1e6
        self.total_latency_ms += self.last_latency_ms
        self.calls += 1
        return outputs

    @classmethod
    def accepted_options(cls) -> list[str]:
        """Names of the options :meth:`create` takes (the thread budget gives a backend only
        those it knows, e.g. ``threads`` and ``spinning``)."""
        # parameters after self and the model file (named per backend: model/engine/program)
        return list(inspect.signature(cls.__init__).parameters)[2:]

    @classmethod
    def create(cls, model_path: Any, **options: Any) -> Backend:
        """``cls(model_path, **options)``, with unknown options reported as a ConfigError that
        lists the accepted ones (instead of a TypeError from deep inside)."""
        accepted = cls.accepted_options()
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(f"{cls.name} backend: unknown option(s) {unknown}; accepted: {accepted}")
        return cls(model_path, **options)  # type: ignore[call-arg]

    @classmethod
    def from_bundle(cls, bundle: Any, role: str, **options: Any) -> Backend:
        """A backend for one net of a bundle. Backends that run another artifact than the ONNX
        model (a TensorRT plan, a torch program) override this to find it."""
        return cls.create(bundle.model_path(role), **options)

    # ---- hooks for subclasses ---------------------------------------------------------------
    def _activate(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        """Load the model; return (input specs, output specs)."""
        raise NotImplementedError

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _deactivate(self) -> None:
        raise NotImplementedError

    def _require_active(self, what: str) -> None:
        if not self._active:
            raise BackendError(f"{self.name}: {what} needs an active backend; call activate() "
                               "first or use it in a 'with' block")
