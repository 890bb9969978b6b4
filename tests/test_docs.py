"""The README's Python example runs, its commands are what CI runs, and the examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_python_example_runs(tmp_path: Path) -> None:
    (example,) = _blocks("python")
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False)
    assert out.returncode == 0, out.stderr


def test_ci_runs_the_readme_commands() -> None:
    install, _main_job, test = _blocks("bash")[:3]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci.splitlines()]
    for step in install.strip().split("&&"):
        if step.strip().startswith("pip install"):
            assert step.strip() in ci_lines, f"the README's install step '{step.strip()}' is not in .ci/run"
    # CI runs the README's test command as is; only its output is also kept for the skip check
    assert any(line == test.strip() or line.startswith(f"{test.strip()} 2>&1 | tee ")
               for line in ci_lines), f"the README's test command '{test.strip()}' is not in .ci/run"


def test_readme_main_job(tmp_path: Path) -> None:
    main_job = _blocks("bash")[1].strip()
    scripts = Path(sys.executable).parent
    command = main_job.replace("edge-sdk ", f"{scripts / 'edge-sdk'} ").replace(
        "python -m", f"{sys.executable} -m")
    out = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "failed 0" in out.stderr


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run(example: Path) -> None:
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300,
                         cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
