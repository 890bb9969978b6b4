"""Export toolchain: train, export to ONNX, quantize, gate on accuracy and write bundles.

Installed with the ``export`` extra (PyTorch side). It imports :mod:`edge_sdk`; the runtime
never imports this package. Each step is a small path-in/path-out function:
:func:`export.onnx_export.to_onnx`, :func:`export.quantize.quantize_int8`,
:func:`export.quantize.to_fp16`, :func:`export.bundle_writer.write_bundle`.
"""

from export.errors import ExportError, GateError

__all__ = ["ExportError", "GateError"]
