"""The docs do not lie: their commands run on a fresh install, or say what they need first.

Every shell block of README.md, docs/*.md, export/README.md and benchmarks/README.md (a fence
marked ``bash``/``sh``/``shell``/``console``, or a bare fence whose first word is a command) carries
one marker comment on the line before it:

- ``<!-- doc-test: run -->``: runs on a fresh install with the shipped bundle; this test runs it
  (in an empty folder, with this environment's scripts first on PATH) and it must exit 0.
- ``<!-- doc-test: ci -->``: the install and test commands; ``.ci/run`` runs them (checked here).
- ``<!-- doc-test: synopsis -->``: usage lines; every subcommand and option shown must exist.
- ``<!-- doc-test: needs WHAT -->``: needs something a fresh install lacks (data, the export
  extra, a GPU, a server); the paragraph before the block must say so in words ("needs ...").

The ``--help`` texts follow the same rule: a description or epilog that shows example commands
says what they need.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "export" / "README.md",
        REPO / "benchmarks" / "README.md"]
SHELL = {"bash", "sh", "shell", "console"}
COMMANDS = {"edge-sdk", "edge-sdk-export", "python", "python3", "pip", "bash", "sudo", "apt-get",
            "pytest"}
MARKER = re.compile(r"^<!-- doc-test: (run|ci|synopsis|needs)\b\s*(.*?)\s*-->$")
KINDS = ("run", "ci", "synopsis", "needs")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    body: str
    kind: str | None
    before: str  # the visible paragraph before the block (marker comments removed)

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        start, lang = i, lines[i][3:].strip()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        marker = MARKER.match(lines[start - 1].strip()) if start else None
        head = start - 1 if marker else start
        para: list[str] = []
        top = head - 1
        while top > 0 and not lines[top].strip():  # blank lines between the text and the block
            top -= 1
        for j in range(top, max(top - 12, -1), -1):
            if not lines[j].strip() or lines[j].startswith("```"):
                break
            if not lines[j].lstrip().startswith("<!--"):
                para.insert(0, lines[j])
        blocks.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:end]),
                            marker.group(1) if marker else None, " ".join(para)))
        i = end + 1
    return blocks


def _is_command(block: Block) -> bool:
    words = block.body.split()
    return block.lang in SHELL or (block.lang == "" and bool(words) and words[0] in COMMANDS)


ALL = [b for path in DOCS if path.is_file() for b in _blocks(path)]
COMMAND_BLOCKS = [b for b in ALL if _is_command(b)]


def _python_blocks() -> list[str]:
    return [b.body for b in _blocks(REPO / "README.md") if b.lang == "python"]


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=str)
def test_every_command_block_is_run_or_says_what_it_needs(block: Block) -> None:
    assert block.kind in KINDS, (
        f"{block}: a shell block without a doc-test marker; expected one of "
        f"<!-- doc-test: {'|'.join(KINDS)} --> on the line before it (see tests/test_docs.py)")
    if block.kind == "needs":
        assert re.search(r"\bneed", block.before, re.IGNORECASE), (
            f"{block}: marked 'needs' but the paragraph before it does not say what it needs "
            f"(found: {block.before[:200]!r}); expected a sentence with 'needs ...'")


def _run_env() -> dict[str, str]:
    # the scripts of this environment (edge-sdk, python) first, as after the README's install
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.kind == "run"], ids=str)
def test_run_blocks_run_on_a_fresh_install(block: Block, tmp_path: Path) -> None:
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block.body], capture_output=True,
                         text=True, cwd=tmp_path, env=_run_env(), timeout=300, check=False)
    assert out.returncode == 0, f"{block}: exit {out.returncode}\n{out.stderr[-3000:]}"
    if "edge-sdk run" in block.body:
        assert "failed 0" in out.stderr, f"{block}: {out.stderr[-2000:]}"


def _ci_lines() -> list[str]:
    return [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]


def _ci_apt_packages() -> set[str]:
    text = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    groups = re.findall(r"APT_PACKAGES\+?=\((.*?)\)", text, flags=re.DOTALL)
    return {word for group in groups for line in group.splitlines()
            for word in line.split("#", 1)[0].split()}


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.kind == "ci"], ids=str)
def test_ci_runs_the_readme_commands(block: Block) -> None:
    ci_lines = _ci_lines()
    for line in block.body.splitlines():
        for step in (s.strip() for s in line.split("&&")):
            if step.startswith("pip install"):
                assert step in ci_lines, f"{block}: the install step '{step}' is not in .ci/run"
            elif step.split()[:1] == ["pytest"]:
                # CI runs the README's test command as is: it may only keep its output for the
                # skip check and leave a folder to a later step of its own (--ignore=)
                same = re.compile(rf"{re.escape(step)}(\s+--ignore=\S+)*(\s+2>&1 \| tee \S+)?")
                assert any(same.fullmatch(c) for c in ci_lines), (
                    f"{block}: the test command '{step}' is not in .ci/run")
            elif "apt-get install" in step:
                wanted = {w for w in step.split("apt-get install", 1)[1].split()
                          if not w.startswith("-")}
                missing = wanted - _ci_apt_packages()
                assert not missing, f"{block}: .ci/run's APT_PACKAGES lacks {sorted(missing)}"


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from edge_sdk.cli import build_parser as runtime

    parsers = {"edge-sdk": runtime()}
    try:
        from export.cli import build_parser as toolchain
    except ImportError as exc:  # the toolchain's parser needs the export extra (dev installs it)
        pytest.fail(f"export.cli does not import ({exc}); install the export extra")
    parsers["edge-sdk-export"] = toolchain()
    return parsers


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.kind == "synopsis"], ids=str)
def test_synopsis_blocks_name_real_subcommands_and_options(block: Block) -> None:
    parsers = _parsers()
    usages = re.sub(r"\n\s+(?=[\[-])", " ", block.body).splitlines()  # join continuation lines
    checked = 0
    for usage in usages:
        words = usage.split()
        if not words or words[0] not in parsers:
            continue
        subs = _subparsers(parsers[words[0]])
        assert len(words) > 1 and words[1] in subs, f"{block}: no subcommand in '{usage}'"
        options = _options(subs[words[1]])
        shown = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", usage))
        assert shown <= options, f"{block}: '{words[0]} {words[1]}' has no {sorted(shown - options)}"
        checked += 1
    assert checked, f"{block}: a synopsis block with no edge-sdk / edge-sdk-export usage line"


def test_help_texts_say_what_their_examples_need() -> None:
    texts = []
    for name, parser in _parsers().items():
        texts.append((name, parser.description or "", parser.epilog or ""))
        texts += [(f"{name} {sub}", p.description or "", p.epilog or "")
                  for sub, p in _subparsers(parser).items()]
    for where, *parts in texts:
        text = "\n".join(parts)
        examples = [line for line in text.splitlines()
                    if line.strip().split()[:1] and line.strip().split()[0] in COMMANDS]
        if examples:
            assert re.search(r"\bneed", text, re.IGNORECASE), (
                f"'{where} --help' shows {examples[0].strip()!r} but not what it needs; expected "
                "a sentence with 'needs ...' (a dataset, the export extra, trained checkpoints)")


def test_readme_python_example_runs(tmp_path: Path) -> None:
    (example,) = _python_blocks()
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run(example: Path) -> None:
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300,
                         cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
