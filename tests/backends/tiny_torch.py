"""PyTorch twins of edge_sdk.testing's tiny ONNX models, saved as torch.export programs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from export.torch_program import to_torch_program


class TinySegmenter(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = F.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
        return torch.sigmoid(20.0 * (0.3 - smooth))


class TinyClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[6.0], [-6.0]]))
            self.fc.bias.copy_(torch.tensor([-1.5, 1.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(x.mean(dim=(2, 3))), dim=1)


def tiny_segmenter_program(path: Path, size: int) -> Path:
    return to_torch_program(TinySegmenter(), torch.zeros(1, 1, size, size), path,
                            input_name="image", output_name="lesion_prob")


def tiny_classifier_program(path: Path, size: int) -> Path:
    return to_torch_program(TinyClassifier(), torch.zeros(2, 1, size, size), path,
                            input_name="crop", output_name="probs", dynamic_batch=True)


def add_tiny_programs(root: Path) -> Path:
    """Give the tiny bundle in ``root`` torch programs of its two nets (as ``torch`` artifacts)."""
    from edge_sdk import load_bundle, write_bundle_manifest
    from edge_sdk.manifest import ArtifactSpec

    manifest = load_bundle(root).manifest
    tiny_segmenter_program(root / "segmenter.pt2", manifest.segmenter.input.shape[2])
    tiny_classifier_program(root / "classifier.pt2", manifest.classifier.input.shape[2])
    programs = {role: (ArtifactSpec("torch", f"{role}.pt2", "0" * 64),)
                for role in ("segmenter", "classifier")}
    return write_bundle_manifest(root, manifest.with_artifacts(programs)).root
