"""fp32 training weights as ``safetensors`` (no pickle), with the run's config beside them.

A bundle ships each net's weights in this form so that a device maker can fine-tune on their
own scanner (``edge-sdk-export finetune --from BUNDLE``) and benchmark the ``torch-fp32``
baseline from the same file, with nothing that executes code on load.

The file's metadata holds ``role``, ``arch``, ``config`` (the training run's
:class:`~export.train.TrainConfig` as JSON), ``epoch`` and ``val``; everything that reads
checkpoints (:func:`export.train.load_checkpoint`) reads these files too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from export.errors import ExportError

SUFFIX = ".safetensors"


def save_weights(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write a loaded checkpoint's weights and config to ``path`` (``.safetensors``)."""
    from safetensors.torch import save_file

    config = dict(checkpoint["config"])
    metadata = {"format": "pt", "role": str(config["role"]), "arch": str(config["arch"]),
                "config": json.dumps(config), "epoch": str(checkpoint.get("epoch", -1)),
                "val": json.dumps(checkpoint.get("val", {}))}
    state = {k: v.detach().contiguous().float() if v.is_floating_point() else v.contiguous()
             for k, v in checkpoint["model"].items()}
    path = Path(path)
    save_file(state, str(path), metadata=metadata)
    path.chmod(0o644)  # safetensors writes 0600; a bundle's files are read by other users too
    return path


def load_weights(path: str | Path) -> dict[str, Any]:
    """Read a weights file into the checkpoint form (``model``, ``config``, ``epoch``, ``val``).

    Raises:
        ExportError: the file is missing, or holds no training config in its metadata.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"weights {path} do not exist. Fix: pass a bundle's "
                          f"<role>.fp32{SUFFIX} or a run's best.pt")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "config" not in metadata:
        raise ExportError(f"weights {path} carry no training config in their metadata; expected "
                          "a file written by export.weights.save_weights. Fix: rewrite it from "
                          "the run's best.pt")
    return {"model": load_file(str(path)), "config": json.loads(metadata["config"]),
            "epoch": int(metadata.get("epoch", -1)), "val": json.loads(metadata.get("val", "{}"))}
