"""Model families: one bundle carrying every target's nets and the fp32 weights; fine-tuning
from it on a small set; the torch baseline from its weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_sdk.bundle import load_bundle  # noqa: E402
from edge_sdk.pipeline import Pipeline  # noqa: E402
from edge_sdk.testing import synthetic_frame  # noqa: E402
from export.build import BuildOptions  # noqa: E402
from export.cli import main  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.family import build_family_from_checkpoints  # noqa: E402
from export.finetune import family_targets, parent_weights  # noqa: E402
from export.train import load_checkpoint, model_from_checkpoint  # noqa: E402
from export.weights import load_weights, save_weights  # noqa: E402


@pytest.fixture(scope="module")
def family(tiny_checkpoints, synthetic_busi: Path, tmp_path_factory: pytest.TempPathFactory):
    seg, cls = tiny_checkpoints
    out = tmp_path_factory.mktemp("family") / "fam"
    options = BuildOptions(target="int8-cpu", out=out, work=out.parent / "work",
                           data=synthetic_busi, min_calibration=1, latency_runs=3, threads=1,
                           max_drop=1.0, tta=False)
    return build_family_from_checkpoints(seg, cls, options)


def test_weights_round_trip_without_pickle(tiny_checkpoints, tmp_path: Path) -> None:
    seg, _ = tiny_checkpoints
    checkpoint = load_checkpoint(seg)
    path = save_weights(checkpoint, tmp_path / "seg.safetensors")
    again = load_weights(path)
    assert again["config"] == checkpoint["config"] and again["epoch"] == checkpoint["epoch"]
    for key, value in checkpoint["model"].items():
        assert torch.equal(again["model"][key], value), key
    _, config = model_from_checkpoint(path)  # everything that reads best.pt reads these
    assert config.arch == checkpoint["config"]["arch"]


def test_family_carries_every_target_once(family) -> None:
    manifest = family.manifest
    layout = manifest.provenance["family"]
    assert set(layout) == {"int8-cpu", "int8-trt", "fp32"}
    for role, spec in manifest.models.items():
        onnx = {a.meta["target"]: a for a in spec.artifacts_of("onnx")}
        assert set(onnx) == {"int8-trt", "fp32"}
        assert layout["fp32"][role] == onnx["fp32"].file
        (weights,) = spec.artifacts_of("safetensors")
        assert weights.meta["arch"] and (family.root / weights.file).is_file()
    names = [p.name for p in family.root.iterdir()]
    files = [a.file for s in manifest.models.values() for a in s.artifacts] + \
        [s.file for s in manifest.models.values()]
    assert sorted(set(files) | {"manifest.json"}) == sorted(names)  # nothing stored twice
    assert load_bundle(family.root).digest == family.digest  # every file verified
    with Pipeline(family) as pipeline:
        result = pipeline.process(synthetic_frame(120, 160, ((80, 60, 20, 15),)))
    assert result.mask.shape == (120, 160)


def test_a_member_that_fails_its_gate_is_left_out(tiny_checkpoints, synthetic_busi: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The int8-trt member's gate fails (forced here): the family still ships, without it,
    and says so; the real build runs for every other member."""
    import export.build
    from export.errors import GateError

    real = export.build.build_bundle

    def gate_fails_for_trt(seg, cls, options):  # type: ignore[no-untyped-def]
        if options.target == "int8-trt":
            raise GateError("auc dropped", {"auc": {"drop": 0.03}})
        return real(seg, cls, options)

    monkeypatch.setattr(export.build, "build_bundle", gate_fails_for_trt)
    seg, cls = tiny_checkpoints
    options = BuildOptions(target="int8-cpu", out=tmp_path / "fam", work=tmp_path / "work",
                           data=synthetic_busi, min_calibration=1, latency_runs=3, threads=1,
                           max_drop=1.0, tta=False)
    family = build_family_from_checkpoints(seg, cls, options, ("int8-trt",))
    assert set(family.manifest.provenance["family"]) == {"int8-cpu", "fp32"}
    left = family.manifest.provenance["family_left_out"]["int8-trt"]
    assert left["reason"] == "accuracy gate failed" and left["gate"] == {"auc": {"drop": 0.03}}


def test_fp32_artifacts_read_their_weights_from_the_safetensors(family) -> None:
    """The fp32 ONNX artifacts hold only their graph; every weight is read from the family's
    safetensors file, and they compute what the main build's fp32 reference computes."""
    import onnxruntime as ort

    main_files = {spec.file for spec in family.manifest.models.values()}
    shared = 0
    for role, spec in family.manifest.models.items():
        for artifact in spec.artifacts_of("onnx"):
            if artifact.meta["precision"] != "fp32" or artifact.file in main_files:
                continue
            shared += 1
            assert artifact.meta["weights_in"] == f"{role}.fp32.safetensors"
            assert artifact.meta["max_abs_diff_vs_folded"] <= 1e-4
            path = family.root / artifact.file
            weights = family.root / artifact.meta["weights_in"]
            assert path.stat().st_size < weights.stat().st_size / 4
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            inputs = np.zeros([d if isinstance(d, int) else 1 for d in
                               session.get_inputs()[0].shape], np.float32)
            assert np.isfinite(session.run(None, {session.get_inputs()[0].name: inputs})[0]).all()
    assert shared >= 1  # the int8-cpu main segmenter is int8: its fp32 form is an artifact


def test_an_older_family_gets_its_weights_shared(family, tiny_checkpoints,
                                                 tmp_path: Path) -> None:
    """``share-weights``: a family whose fp32 artifacts held their own copy is rewritten to
    read them from the safetensors; the main files and what they compute stay the same."""
    from export.family import build_family, family_size_mb, share_family_weights

    seg, cls = tiny_checkpoints
    work = family.root.parent / "work"
    inline = build_family(work / "int8-cpu", {"int8-trt": work / "int8-trt",
                                              "fp32": work / "int8-cpu.work" / "fp32-reference"},
                          {"segmenter": seg, "classifier": cls}, tmp_path / "inline",
                          share_weights=False)
    shared = share_family_weights(inline.root, tmp_path / "shared")
    assert family_size_mb(shared) < family_size_mb(inline)
    assert shared.manifest.provenance["weights_shared_from"]["digest"] == inline.digest
    for role, spec in shared.manifest.models.items():
        assert spec.sha256 == inline.manifest.models[role].sha256  # main files untouched
    fp32 = [a for s in shared.manifest.models.values() for a in s.artifacts_of("onnx")
            if a.meta["precision"] == "fp32" and "weights_in" in a.meta]
    assert fp32
    frame = synthetic_frame(120, 160, ((80, 60, 20, 15),))
    with Pipeline(inline) as before, Pipeline(shared) as after:
        assert before.process(frame).malignancy == after.process(frame).malignancy


def test_a_member_is_a_bundle_of_its_own(family, tmp_path: Path) -> None:
    """``edge-sdk-export member``: the fp32 member runs alone, with the weights its segmenter
    file reads from; an unknown member is refused with the ones there are."""
    code = main(["member", str(family.root), "--target", "fp32", "--out", str(tmp_path / "m")])
    assert code == 0
    member = load_bundle(tmp_path / "m")
    assert {s.precision for s in member.manifest.models.values()} == {"fp32"}
    assert member.manifest.provenance["member_of"]["family_digest"] == family.digest
    assert "segmenter.fp32.safetensors" in {p.name for p in member.root.iterdir()}
    frame = synthetic_frame(120, 160, ((80, 60, 20, 15),))
    with Pipeline(member) as alone, Pipeline(family) as whole:
        assert alone.process(frame).mask.shape == whole.process(frame).mask.shape
    from export.family import family_member
    with pytest.raises(ExportError, match="no 'fp16' member.*int8-cpu"):
        family_member(family.root, "fp16", tmp_path / "x")


def test_finetune_writes_a_gated_child(family, synthetic_busi: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "child"
    code = main(["finetune", "--from", str(family.root), "--data", str(synthetic_busi),
                 "--out", str(out), "--epochs", "1", "--threads", "1", "--max-drop", "1.0"])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.rindex("\n{\n") + 1:])  # the command's last output
    assert report["parent"]["digest"] == family.digest
    child = load_bundle(out)
    parent = child.manifest.provenance["parent"]
    assert parent["digest"] == family.digest and parent["name"] == family.manifest.name
    assert child.manifest.pipeline == family.manifest.pipeline  # clinical settings kept
    assert child.manifest.provenance["gate"]["passed"]
    assert set(parent_weights(child)) == {"segmenter", "classifier"}
    assert set(child.manifest.provenance["family"]) == {"int8-cpu", "int8-trt", "fp32"}


def test_finetune_builds_the_parent_familys_targets(family) -> None:
    """A child carries what its parent carries (a parent without int8-trt gives a child none)."""
    assert family_targets(family, None) == ("int8-trt",)
    assert family_targets(family, ()) == ()
    shipped = load_bundle(Path(__file__).resolve().parents[2] / "edge_sdk" / "bundles" / "default")
    assert family_targets(shipped, None) == tuple(
        t for t in shipped.manifest.provenance["family"] if t not in ("int8-cpu", "fp32"))


def test_finetune_refuses_a_bundle_without_weights(tiny_bundle_dir: Path, synthetic_busi: Path,
                                                   tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no fp32 weights"):
        parent_weights(load_bundle(tiny_bundle_dir))


def test_torch_baseline_from_the_family_weights(family, tmp_path: Path) -> None:
    out = tmp_path / "with_torch"
    assert main_torch(["--bundle", str(family.root), "--out", str(out)]) == 0
    copy = load_bundle(out)
    assert all(spec.artifacts_of("torch") for spec in copy.manifest.models.values())
    assert load_bundle(family.root).digest == family.digest  # the source bundle is untouched
    frame = synthetic_frame(120, 160, ((80, 60, 20, 15),))
    with Pipeline(copy, backend="onnxruntime") as reference, \
            Pipeline(copy, backend="torch") as baseline:
        a, b = reference.process(frame), baseline.process(frame)
    assert np.mean(a.mask == b.mask) > 0.99


def main_torch(argv: list[str]) -> int:
    from export.torch_program import main as torch_main

    return torch_main(argv)


def test_each_backend_finds_its_own_file(family) -> None:
    from edge_sdk.tensorrt.cache import trt_source

    for role, spec in family.manifest.models.items():
        assert family.onnx_for(role, "int8-cpu") == (family.model_path(role), spec.precision)
        fp32, precision = family.onnx_for(role, "fp32")
        assert precision == "fp32" and fp32.is_file()
        trt_file, trt_precision = family.onnx_for(role, "int8-trt")
        assert trt_source(family, role, None) == (trt_file, trt_precision)  # the TRT default
        assert trt_source(family, role, "fp16") == (fp32, "fp32")
