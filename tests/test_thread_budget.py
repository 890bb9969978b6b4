"""The thread budget: what each stage's session gets, and that the sessions really get it."""

from __future__ import annotations

import os
from typing import Any

import pytest

from edge_sdk import Pipeline
from edge_sdk.bundle import Bundle
from edge_sdk.errors import ConfigError
from edge_sdk.thread_budget import StageThreads, ThreadBudget, thread_budget, usable_cores

CPU = {"providers": ["CPUExecutionProvider"]}


@pytest.mark.parametrize(
    ("threads", "cores", "segmenter", "classifier", "error"),
    [
        (None, 1, 1, 1, None),
        (None, 2, 2, 1, None),
        (None, 3, 3, 1, None),
        (None, 8, 8, 4, None),
        (1, 8, 1, 1, None),
        (3, 2, 3, 3, None),  # an explicit override is taken as given
        (0, 2, None, None, ConfigError),
    ],
)
def test_budget_table(threads: int | None, cores: int, segmenter: int | None,
                      classifier: int | None, error: type[Exception] | None) -> None:
    if error is not None:
        with pytest.raises(error, match="Fix:"):
            thread_budget(threads, cores=cores)
        return
    budget = thread_budget(threads, cores=cores)
    assert (budget.segmenter.threads, budget.classifier.threads) == (segmenter, classifier)
    assert not budget.segmenter.spinning and not budget.classifier.spinning
    assert budget.source == ("default" if threads is None else f"--threads {threads}")


def test_usable_cores_follow_the_affinity() -> None:
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
    assert thread_budget().cores == usable_cores()


def test_describe_and_dict() -> None:
    budget = ThreadBudget(2, StageThreads(2, spinning=True), StageThreads(1))
    assert budget.describe() == ("segmenter 2 threads, classifier 1 thread, spinning segmenter "
                                 "(2 usable cores, default)")
    assert budget.to_dict() == {"cores": 2, "source": "default",
                                "segmenter": {"threads": 2, "spinning": True},
                                "classifier": {"threads": 1, "spinning": False}}
    assert budget.options("classifier", ["threads"]) == {"threads": 1}
    with pytest.raises(ConfigError, match="segmenter"):
        budget.for_stage("detector")


def test_pipeline_gives_each_session_its_share(tiny_bundle: Bundle) -> None:
    budget = ThreadBudget(2, StageThreads(2, spinning=True), StageThreads(1))
    with Pipeline(tiny_bundle, backend_options=CPU, threads=budget) as pipeline:
        assert pipeline.thread_budget is budget
        seg: Any = pipeline.segmenter
        cls: Any = pipeline.classifier
        assert (seg.threads, seg.spinning) == (2, True)
        assert (cls.threads, cls.spinning) == (1, False)
        options = seg._session.get_session_options()
        assert options.intra_op_num_threads == 2
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"


@pytest.mark.parametrize("how", ["threads", "backend_options"])
def test_threads_override_both_stages(tiny_bundle: Bundle, how: str) -> None:
    threads = 1 if how == "threads" else None
    options: dict[str, Any] = {**CPU, "threads": 1} if how == "backend_options" else CPU
    with Pipeline(tiny_bundle, backend_options=options, threads=threads) as pipeline:
        seg: Any = pipeline.segmenter
        cls: Any = pipeline.classifier
        assert seg.threads == cls.threads == 1
        assert pipeline.thread_budget.source == "--threads 1"
        options_seen = cls._session.get_session_options()
        assert options_seen.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_spinning_option_shows_in_the_budget(tiny_bundle: Bundle) -> None:
    """``--option spinning=true`` turns every pool's spinning on, and the budget says so."""
    with Pipeline(tiny_bundle, backend_options={**CPU, "spinning": True}, threads=2) as pipeline:
        seg: Any = pipeline.segmenter
        cls: Any = pipeline.classifier
        assert seg.spinning and cls.spinning
        assert "spinning segmenter, classifier" in pipeline.thread_budget.describe()


def test_default_pipeline_uses_the_default_budget(tiny_bundle: Bundle) -> None:
    with Pipeline(tiny_bundle, backend_options=CPU) as pipeline:
        assert pipeline.thread_budget == thread_budget()
        seg: Any = pipeline.segmenter
        cls: Any = pipeline.classifier
        assert seg.threads == usable_cores()
        assert cls.threads == max(1, usable_cores() // 2)
        assert not seg.spinning and not cls.spinning


def test_openvino_sessions_get_their_share_unpinned(tiny_bundle: Bundle) -> None:
    pytest.importorskip("openvino", reason="the OpenVINO backend is in the 'bench' extra")
    budget = ThreadBudget(2, StageThreads(2), StageThreads(1))
    with Pipeline(tiny_bundle, backend="openvino", threads=budget) as pipeline:
        for net, want in ((pipeline.segmenter, 2), (pipeline.classifier, 1)):
            compiled = net._request.get_compiled_model()  # type: ignore[attr-defined]
            assert compiled.get_property("INFERENCE_NUM_THREADS") == want
            assert compiled.get_property("ENABLE_CPU_PINNING") is False
