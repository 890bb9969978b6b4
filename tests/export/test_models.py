"""The model registry: lookups, errors naming the valid keys, shapes of every net."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from export.errors import ExportError  # noqa: E402
from export.models import CLASSIFIERS, SEGMENTERS, build_model, get_entry  # noqa: E402


@pytest.mark.parametrize(
    ("role", "name", "error"),
    [
        ("segmenter", "unet_lite0", None),
        ("classifier", "efficientnet_b0", None),
        ("segmenter", "efficientnet_b0", "supported segmenters"),
        ("classifier", "resnet999", "supported classifiers"),
        ("detector", "unet_lite0", "unknown model role"),
    ],
)
def test_lookup_table(role: str, name: str, error: str | None) -> None:
    if error is None:
        assert get_entry(role, name).default_size > 0
    else:
        with pytest.raises(ExportError, match=error) as info:
            get_entry(role, name)
        if "supported" in error:
            assert all(k in str(info.value) for k in (SEGMENTERS if role == "segmenter"
                                                      else CLASSIFIERS))


@pytest.mark.parametrize("name", sorted(SEGMENTERS))
def test_segmenters_map_gray_frames_to_one_logit_map(name: str) -> None:
    model = build_model("segmenter", name, pretrained=False).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifiers_give_one_malignancy_logit(name: str) -> None:
    model = build_model("classifier", name, pretrained=False).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 1)


def test_pretrained_lite0_encoder_carries_the_imagenet_weights() -> None:
    from export.lite0_weights import lite0_imagenet_state_dict

    expected = lite0_imagenet_state_dict()["blocks.3.1.conv_dw.weight"]
    seg = build_model("segmenter", "unet_lite0", pretrained=True)
    cls = build_model("classifier", "efficientnet_lite0", pretrained=True)
    assert torch.equal(seg.encoder.model.state_dict()["blocks.3.1.conv_dw.weight"], expected)
    assert torch.equal(cls.state_dict()["blocks.3.1.conv_dw.weight"], expected)
    scratch = build_model("classifier", "efficientnet_lite0", pretrained=False)
    assert not torch.equal(scratch.state_dict()["blocks.3.1.conv_dw.weight"], expected)
