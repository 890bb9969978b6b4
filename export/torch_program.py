"""Save a net as a ``torch.export`` program (``.pt2``) for the runtime's torch backend.

The program takes the image as the keyword argument named like the ONNX input and returns
``{output_name: tensor}``, so the torch backend, the ONNX model and the TensorRT engine of a
bundle share one I/O contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from edge_sdk.bundle import Bundle
    from export.ensemble import Checkpoints


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


def add_torch_programs(bundle_dir: str | Path, segmenter_ckpt: Checkpoints,
                       classifier_ckpt: Checkpoints) -> Bundle:
    """Add ``.pt2`` programs of the two trained nets to a bundle (as ``torch`` artifacts) so the
    torch backend — the ``torch-fp32`` benchmark baseline — runs the same weights.

    The programs compute what the bundle's ONNX models compute (the segmenter's sigmoid
    included), so the manifest's input/output specs hold for both.
    """
    from edge_sdk.bundle import load_bundle, write_bundle_manifest
    from edge_sdk.manifest import ArtifactSpec
    from export.ensemble import models_from_checkpoints
    from export.onnx_export import _WithSigmoid

    bundle = load_bundle(bundle_dir)
    artifacts: dict[str, tuple[ArtifactSpec, ...]] = {}
    for role, checkpoint in (("segmenter", segmenter_ckpt), ("classifier", classifier_ckpt)):
        model, _ = models_from_checkpoints(checkpoint, role)
        spec = bundle.manifest.models[role]
        net = _WithSigmoid(model) if spec.output.meaning == "lesion_probability" else model
        shape = [d if d > 0 else 2 for d in spec.input.shape]
        file = f"{role}.fp32.pt2"
        to_torch_program(net, torch.zeros(shape), bundle.root / file, input_name=spec.input.name,
                         output_name=spec.output.name, dynamic_batch=spec.input.dynamic_batch,
                         max_batch=max(64, bundle.manifest.pipeline.max_lesions))
        kept = tuple(a for a in spec.artifacts if a.kind != "torch")
        artifacts[role] = kept + (ArtifactSpec("torch", file, "0" * 64, {"precision": "fp32"}),)
    return write_bundle_manifest(bundle.root, bundle.manifest.with_artifacts(artifacts))


def main(argv: list[str] | None = None) -> int:
    """``python -m export.torch_program --bundle DIR [--out COPY] [--segmenter CKPT --classifier
    CKPT]``; without checkpoints, the bundle's own ``safetensors`` weights are used."""
    import argparse
    import shutil

    from edge_sdk.bundle import load_bundle
    from export.finetune import parent_weights

    parser = argparse.ArgumentParser(prog="python -m export.torch_program",
                                     description=add_torch_programs.__doc__)
    parser.add_argument("--bundle", type=Path, required=True, help="bundle to add programs to")
    parser.add_argument("--out", type=Path,
                        help="write a copy of the bundle with the programs here (the bundle "
                             "itself, e.g. the shipped default, stays as it is)")
    parser.add_argument("--segmenter", type=Path, nargs="+",
                        help="segmenter best.pt (several: their ensemble, as in the bundle); "
                             "default: the bundle's segmenter.fp32.safetensors")
    parser.add_argument("--classifier", type=Path, nargs="+",
                        help="classifier best.pt (several: their ensemble); default: the "
                             "bundle's classifier.fp32.safetensors")
    args = parser.parse_args(argv)
    target = args.bundle
    if args.out is not None:
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(load_bundle(args.bundle).root, args.out)
        target = args.out
    weights = (parent_weights(load_bundle(target))
               if not (args.segmenter and args.classifier) else {})
    bundle = add_torch_programs(target, args.segmenter or [weights["segmenter"]],
                                args.classifier or [weights["classifier"]])
    print(f"torch programs added to {bundle.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
