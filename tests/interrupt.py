"""Children that the tests stop with Ctrl-C must be able to receive it."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child the test will interrupt: SIGINT unblocked and at its default.

    A child inherits an ignored SIGINT and the forking thread's signal mask (a test runner
    started in the background, or a library of the runner's process, may have either), and a
    Python child then never sees Ctrl-C.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)
