"""Several trained checkpoints of one role as one net: the mean of their logits.

An ensemble exports to a single ONNX graph with the same input and output as each member, so
the bundle format, the runtime and every conversion step (calibration, INT8, FP16, TensorRT)
treat it as one net. It costs one member's latency per member.

Example:
    >>> import torch
    >>> from torch import nn
    >>> mean = LogitMean([nn.Identity(), nn.Identity()])
    >>> mean(torch.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 2, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from export.errors import ExportError
from export.train import TrainConfig, model_from_checkpoint

Checkpoints = str | Path | Sequence[str | Path]
"""One ``best.pt``, or several of one role to average."""


def checkpoint_list(checkpoints: Checkpoints) -> list[Path]:
    """``checkpoints`` as a list of paths (one path becomes a list of one)."""
    if isinstance(checkpoints, (str, Path)):
        return [Path(checkpoints)]
    return [Path(c) for c in checkpoints]


class LogitMean(nn.Module):
    """The mean of the members' outputs (logits), for members that share input and output."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ExportError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


def models_from_checkpoints(checkpoints: Checkpoints, role: str | None = None
                            ) -> tuple[nn.Module, TrainConfig]:
    """Load one checkpoint as its net, or several as their :class:`LogitMean`.

    The members must have the same role and input (size, channels, normalization); the first
    member's training config describes the ensemble.

    Args:
        checkpoints: One ``best.pt`` or several.
        role: When given, the role ('segmenter' or 'classifier') the checkpoints must hold.

    Raises:
        ExportError: no path given, the checkpoints hold another role than ``role``, or the
            members do not fit together (the message names the first one that differs and how).
    """
    paths = checkpoint_list(checkpoints)
    if not paths:
        raise ExportError("no checkpoint given; pass one best.pt, or several to average")
    loaded = [model_from_checkpoint(path) for path in paths]
    first_model, first = loaded[0]
    if role is not None and first.role != role:
        raise ExportError(f"--{role} got a {first.role} checkpoint ({paths[0]}); pass the "
                          f"{role}'s best.pt")
    expected = (first.role, first.input_spec())
    for path, (_, config) in zip(paths[1:], loaded[1:]):
        got = (config.role, config.input_spec())
        if got != expected:
            raise ExportError(
                f"ensemble member {path} is a {got[0]} taking {got[1]}, but {paths[0]} is a "
                f"{expected[0]} taking {expected[1]}. Fix: average only checkpoints of one role "
                "trained at the same input size")
    if len(loaded) == 1:
        return first_model, first
    return LogitMean([model for model, _ in loaded]).eval(), first
