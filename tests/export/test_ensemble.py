"""Ensembles: several checkpoints of one role become one net (and one ONNX graph) averaging
their logits, which the bundle build and the runtime treat like any single net."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk import Pipeline, load_bundle  # noqa: E402
from edge_sdk.testing import synthetic_frame  # noqa: E402
from export.build import BuildOptions, build_bundle  # noqa: E402
from export.cli import build_parser  # noqa: E402
from export.ensemble import LogitMean, models_from_checkpoints  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.onnx_export import real_inputs, run_onnx  # noqa: E402
from export.train import load_checkpoint, model_from_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def second_segmenter(tiny_checkpoints, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second segmenter checkpoint: the first one's weights, shifted (a distinct member)."""
    checkpoint = load_checkpoint(tiny_checkpoints[0])
    generator = torch.Generator().manual_seed(0)
    checkpoint["model"] = {
        # BatchNorm's running statistics stay: a shifted running variance can turn negative
        k: v + 0.05 * torch.randn(v.shape, generator=generator)
        if v.is_floating_point() and "running_" not in k else v
        for k, v in checkpoint["model"].items()}
    path = tmp_path_factory.mktemp("seg2") / "best.pt"
    torch.save(checkpoint, path)
    return path


def test_ensemble_is_the_mean_of_member_logits(tiny_checkpoints, second_segmenter: Path) -> None:
    seg = tiny_checkpoints[0]
    ensemble, config = models_from_checkpoints([seg, second_segmenter])
    assert isinstance(ensemble, LogitMean) and config.role == "segmenter"
    x = torch.from_numpy(np.stack(real_inputs(config, 2)))
    with torch.no_grad():
        members = [model_from_checkpoint(p)[0](x) for p in (seg, second_segmenter)]
        expected = (members[0] + members[1]) / 2
        np.testing.assert_allclose(ensemble(x).numpy(), expected.numpy(), atol=1e-5)
    assert not torch.equal(members[0], members[1])  # the members really differ


def test_one_checkpoint_is_the_plain_net(tiny_checkpoints) -> None:
    model, _ = models_from_checkpoints([tiny_checkpoints[1]])
    assert not isinstance(model, LogitMean)


def test_members_that_do_not_fit_are_refused(tiny_checkpoints) -> None:
    seg, cls = tiny_checkpoints
    with pytest.raises(ExportError, match=rf"ensemble member {cls} is a classifier.*Fix"):
        models_from_checkpoints([seg, cls])
    with pytest.raises(ExportError, match="no checkpoint given"):
        models_from_checkpoints([])
    with pytest.raises(ExportError, match="--segmenter got a classifier checkpoint"):
        models_from_checkpoints(cls, "segmenter")


def test_checkpoints_in_the_wrong_role_are_refused(tiny_checkpoints, synthetic_busi: Path,
                                                   tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    options = BuildOptions(target="fp32", out=tmp_path / "x", work=tmp_path / "w",
                           data=synthetic_busi)
    with pytest.raises(ExportError, match="--segmenter got a classifier checkpoint"):
        build_bundle(cls, seg, options)


def test_bundle_with_an_ensemble_segmenter(tiny_checkpoints, second_segmenter: Path,
                                           synthetic_busi: Path, tmp_path: Path) -> None:
    seg, cls = tiny_checkpoints
    options = BuildOptions(target="fp32", out=tmp_path / "fp32", work=tmp_path / "work",
                           data=synthetic_busi, min_calibration=1, latency_runs=3, threads=1,
                           max_drop=1.0, tune=False)
    bundle = load_bundle(build_bundle([seg, second_segmenter], cls, options).root)
    training = bundle.manifest.provenance["training"]
    assert [m["checkpoint"] for m in training["segmenter"]["members"]] == [
        str(seg), str(second_segmenter)]
    assert training["segmenter"]["arch"] == "mean of unet_lite0 + unet_lite0"
    assert training["classifier"]["checkpoint"] == str(cls)
    # the bundle's one segmenter graph computes the sigmoid of the members' mean logit
    ensemble, config = models_from_checkpoints([seg, second_segmenter])
    x = np.stack(real_inputs(config, 2))
    with torch.no_grad():
        expected = torch.sigmoid(ensemble(torch.from_numpy(x))).numpy()
    got = run_onnx(bundle.root / bundle.manifest.segmenter.file, x, threads=1)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    with Pipeline(bundle) as pipeline:
        result = pipeline.process(synthetic_frame(120, 160, ((80, 60, 20, 15),)))
    assert result.mask.shape == (120, 160)


def test_bundle_command_takes_several_checkpoints() -> None:
    args = build_parser().parse_args(["bundle", "--segmenter", "a.pt", "b.pt", "--classifier",
                                      "c.pt", "--target", "fp32", "--out", "x"])
    assert args.segmenter == [Path("a.pt"), Path("b.pt")] and args.classifier == [Path("c.pt")]
