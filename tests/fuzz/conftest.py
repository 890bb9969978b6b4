"""Property-based fuzzing (hypothesis): a CI-sized budget by default, a long run on demand.

``EDGE_SDK_FUZZ_EXAMPLES=N`` sets every fuzz test's example count (default: a CI budget that
keeps the whole set around a minute on a shared 2-core machine). The count of inputs each
target really saw is printed at the end of the session (docs/ROBUSTNESS.md has the long run).
Failures found are kept as ``@example`` rows beside the property they broke.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

SEEN: Counter[str] = Counter()
"""Inputs each fuzz target processed in this session (reported in the terminal summary)."""


def budget(ci_default: int) -> int:
    """The example count of one test: ``$EDGE_SDK_FUZZ_EXAMPLES`` if set, else its CI default."""
    text = os.environ.get("EDGE_SDK_FUZZ_EXAMPLES", "").strip()
    if not text:
        return ci_default
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(f"EDGE_SDK_FUZZ_EXAMPLES={text!r}; expected a positive integer")
    return int(text)


def fuzz_settings(ci_default: int) -> settings:
    """Settings for a fuzz test: no deadline (the host is shared), no example database."""
    return settings(max_examples=budget(ci_default), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SEEN:
        terminalreporter.write_line("fuzz inputs: " + ", ".join(
            f"{name} {count}" for name, count in sorted(SEEN.items())))
