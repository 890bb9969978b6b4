"""Fail CI on any skipped test whose reason is not hardware this machine lacks.

Usage: ``python .ci/check_skips.py PYTEST_LOG``

Reads the ``SKIPPED [n] path:line: reason`` lines of pytest's short test summary (``-rs`` or
``-ra``, which pyproject's addopts set), prints every skip with its reason, and exits 1 when a
skip names anything else: a missing package, system library, dataset or a test that did not
apply. Those are things CI installs, ships or must test, so skipping them would hide a hand
install on the machine the tests last passed on. Exits 2 when the log has no pytest summary.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Hardware a CI machine may lack, and the stacks that exist only with it.
HARDWARE = re.compile(r"\b(gpu|cuda|tensorrt|nvidia|jetson|v4l2|capture device)\b|/dev/video",
                      re.IGNORECASE)
SKIP_LINE = re.compile(r"^SKIPPED \[(\d+)\] (\S+?):(?:(\d+):)? (.*)$")
SUMMARY_END = re.compile(r"^=+ .*\b(passed|failed|skipped|error|errors|deselected|no tests ran)\b"
                         r".* in [\d.]+s")


def parse(log: str) -> tuple[list[tuple[int, str, str]], bool]:
    """The ``(count, location, reason)`` of each skip line, and whether a summary was found."""
    skips = []
    finished = False
    for line in log.splitlines():
        line = line.rstrip()
        match = SKIP_LINE.match(line)
        if match:
            count, path, lineno, reason = match.groups()
            skips.append((int(count), f"{path}:{lineno}" if lineno else path, reason.strip()))
        elif SUMMARY_END.match(line):
            finished = True
    return skips, finished


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    skips, finished = parse(Path(argv[1]).read_text(encoding="utf-8", errors="replace"))
    if not finished:
        print(f"check_skips: no pytest summary line in {argv[1]}; expected pytest's output "
              "with -ra. Fix: run pytest through .ci/run", file=sys.stderr)
        return 2
    allowed = [s for s in skips if HARDWARE.search(s[2])]
    refused = [s for s in skips if not HARDWARE.search(s[2])]
    for title, group in (("skipped for hardware this machine lacks", allowed),
                         ("skipped for another reason (not accepted in CI)", refused)):
        print(f"check_skips: {sum(n for n, _, _ in group)} {title}")
        for count, where, reason in group:
            print(f"  [{count}] {where}: {reason}")
    if refused:
        print("check_skips: FAILED: only a missing GPU, CUDA, TensorRT or V4L2 device may skip a "
              "test in CI. Fix: install what the reason names in .ci/run (APT_PACKAGES or the "
              "dev extra), or make the test run here", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
