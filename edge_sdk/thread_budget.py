"""How many CPU threads each stage's inference session gets, from the cores this process may use.

The streaming runtime runs the segmenter and the classifier in two threads at once. A session
that takes every core, with a thread pool that spins while it waits for work, then fights the
other stage's session for the same cores: on two cores each stage ran twice as slow as alone
(segment p50 32 ms instead of 16 ms) and a 30 fps source lost frames. The budget below decides
once, for both stages, how many threads each session gets and whether its pool may spin; the
pipeline uses it unless told otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from edge_sdk.errors import ConfigError

STAGES = ("segmenter", "classifier")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not every core of the machine.

    ``os.cpu_count()`` also counts cores a container or ``taskset`` forbids; threads on those
    only queue behind each other.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class StageThreads:
    """The CPU threads of one stage's session.

    Attributes:
        threads: Intra-op threads (1: the session runs on the calling thread, no pool).
        spinning: Whether the pool's idle threads spin instead of sleeping (ONNX Runtime).
    """

    threads: int
    spinning: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"stage threads {self.threads!r}; expected an integer >= 1. "
                              "Fix: pass --threads N with N >= 1")


@dataclass(frozen=True)
class ThreadBudget:
    """Threads per stage, and why (``edge-sdk info`` and the run summary print it).

    Attributes:
        cores: Cores this process may use.
        segmenter: The segmenter session's threads.
        classifier: The classifier session's threads.
        source: ``"default"`` (the measured default of :func:`thread_budget`) or
            ``"--threads N"``.
    """

    cores: int
    segmenter: StageThreads
    classifier: StageThreads
    source: str = "default"

    def for_stage(self, role: str) -> StageThreads:
        if role not in STAGES:
            raise ConfigError(f"unknown stage {role!r}; expected one of {list(STAGES)}")
        return self.segmenter if role == "segmenter" else self.classifier

    def options(self, role: str, accepted: Any) -> dict[str, Any]:
        """Backend options of ``role``'s session, limited to those the backend takes."""
        stage = self.for_stage(role)
        wanted = {"threads": stage.threads, "spinning": stage.spinning}
        return {k: v for k, v in wanted.items() if k in accepted}

    def describe(self) -> str:
        """One line, e.g. ``segmenter 2 threads, classifier 1 thread, no spinning (2 cores)``."""
        def part(role: str) -> str:
            stage = self.for_stage(role)
            return f"{role} {stage.threads} thread{'s' if stage.threads != 1 else ''}"

        spinning = [r for r in STAGES if self.for_stage(r).spinning and self.for_stage(r).threads > 1]
        spin = f"spinning {', '.join(spinning)}" if spinning else "no spinning"
        return (f"{part('segmenter')}, {part('classifier')}, {spin} ({self.cores} usable "
                f"core{'s' if self.cores != 1 else ''}, {self.source})")

    def with_spinning(self, spinning: bool) -> ThreadBudget:
        """The same budget with every stage's pool spinning or not (an explicit option)."""
        return replace(self, segmenter=replace(self.segmenter, spinning=spinning),
                       classifier=replace(self.classifier, spinning=spinning))

    def to_dict(self) -> dict[str, Any]:
        return {"cores": self.cores, "source": self.source,
                **{role: {"threads": self.for_stage(role).threads,
                          "spinning": self.for_stage(role).spinning} for role in STAGES}}


def thread_budget(threads: int | None = None, cores: int | None = None) -> ThreadBudget:
    """The thread budget for this process.

    Default: the segmenter gets every usable core, the classifier half of them (at least one),
    and no pool spins. Measured with the shipped bundle on 2 cores (``benchmarks/thread_budget.py``,
    docs/BENCHMARKS.md "Thread budget"): an idle spinning pool holds its cores while the other
    stage runs (the old default, every core and spinning pools, ran at half the rate); with the
    two stages overlapping in the streaming runtime, the classifier on one of the two cores
    streamed 11 % faster than on both (the segmenter, two thirds of the work, keeps both), and
    one thread each was slowest. Only 2-core machines were measured; halving for more cores keeps
    the classifier from competing with the segmenter for every core.

    Args:
        threads: Override: every stage gets exactly this many threads (``--threads N``).
        cores: Usable cores (default: :func:`usable_cores`).

    Example:
        >>> thread_budget(cores=4).describe()
        'segmenter 4 threads, classifier 2 threads, no spinning (4 usable cores, default)'
        >>> thread_budget(threads=1, cores=4).segmenter
        StageThreads(threads=1, spinning=False)
    """
    cores = usable_cores() if cores is None else cores
    if threads is not None:
        stage = StageThreads(threads)
        return ThreadBudget(cores, stage, stage, f"--threads {threads}")
    return ThreadBudget(cores, StageThreads(cores), StageThreads(max(1, cores // 2)))
