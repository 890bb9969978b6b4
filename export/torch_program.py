"""Save a net as a ``torch.export`` program (``.pt2``) for the runtime's torch backend.

The program takes the image as the keyword argument named like the ONNX input and returns
``{output_name: tensor}``, so the torch backend, the ONNX model and the TensorRT engine of a
bundle share one I/O contract.
"""

from __future__ import annotations

from pathlib import Path

import torch


class _Named(torch.nn.Module):
    """Wrap a net so that it takes its input by name and returns a named dict."""

    def __init__(self, net: torch.nn.Module, input_name: str, output_name: str) -> None:
        super().__init__()
        self.net = net
        self.input_name = input_name
        self.output_name = output_name

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.output_name: self.net(inputs[self.input_name])}


def to_torch_program(net: torch.nn.Module, example: torch.Tensor, path: str | Path, *,
                     input_name: str, output_name: str, dynamic_batch: bool = False,
                     max_batch: int = 64) -> Path:
    """Export ``net`` (in eval mode) with ``torch.export`` and save it to ``path``.

    Args:
        net: The trained net (its output is the tensor the manifest's output names).
        example: An example input of the right shape (batch ≥ 2 when ``dynamic_batch``).
        path: The ``.pt2`` file to write.
        input_name: The manifest's input name.
        output_name: The manifest's output name (the key of the returned dict).
        dynamic_batch: Make dimension 0 dynamic (the classifier).
        max_batch: Upper bound of the dynamic batch.
    """
    wrapped = _Named(net.eval(), input_name, output_name).eval()
    dynamic = ({input_name: {0: torch.export.Dim("batch", min=1, max=max_batch)}}
               if dynamic_batch else None)
    with torch.no_grad():
        program = torch.export.export(wrapped, (), kwargs={input_name: example},
                                      dynamic_shapes=dynamic)
    path = Path(path)
    torch.export.save(program, str(path))
    return path
