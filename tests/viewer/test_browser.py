"""The page in a real browser: headless Debian Chromium driven by Playwright, watching a real
``edge-sdk run --view`` of the probe simulator with the shipped bundle.

Set ``EDGE_SDK_VIEWER_SCREENSHOT=docs/img/viewer.png`` to write the README's screenshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.bundle import default_bundle_path, load_bundle
from tests.interrupt import interruptible

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's chromium, kept from reaching anything but the page (Playwright cannot download its
# own browsers on this project's machines)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = 16  # page snapshots, 0.3 s apart, before the run is stopped with Ctrl-C

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium is not installed (apt-get install "
                                       "chromium; .ci/run installs it)")

# One consistent snapshot of what the page shows (JavaScript runs it in one go).
SNAPSHOT = """() => ({
  frameIndex: document.getElementById('frame-index').textContent,
  received: window.edgeView.framesReceived,
  status: document.getElementById('status').dataset.status,
  rows: [...document.querySelectorAll('#lesions tbody tr')].map(
      (tr) => [tr.dataset.frame, ...[...tr.cells].map((td) => td.textContent)]),
  tracking: document.getElementById('tracking').textContent,
  canvas: document.getElementById('frame').toDataURL('image/png'),
  width: document.getElementById('frame').width,
  height: document.getElementById('frame').height,
  counters: Object.fromEntries([...document.querySelectorAll('#counters td[data-key]')].map(
      (td) => [td.dataset.key, td.dataset.value])),
  stages: [...document.querySelectorAll('#latency tbody tr')].map((tr) => tr.dataset.stage),
  info: document.getElementById('i-bundle').textContent,
})"""


class _Run:
    """``edge-sdk run ... --view 127.0.0.1:0`` in a subprocess; its stderr read as it comes."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "edge_sdk", "run", *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     preexec_fn=interruptible)
        self.lines: list[str] = []
        self.url_ready = threading.Event()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            found = re.search(r"^viewer: (http://\S+)", line)
            if found:
                self.url = found.group(1)
                self.url_ready.set()
        self.url_ready.set()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def summary(self) -> dict[str, Any]:
        line = next(line for line in self.lines if line.startswith("summary: "))
        return dict(json.loads(line[len("summary: "):]))


def _poll(page: Any, condition: str, timeout: float) -> None:
    # Playwright's wait_for_function evaluates a string, which the page's policy forbids
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(condition):
            return
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {condition} within {timeout} s")


def _lesion_rows(line: dict[str, Any]) -> list[list[str]]:
    """The lesion table the page must show for one JSONL line, cell by cell."""
    ids = line.get("extras", {}).get("tracking", {}).get("track_ids", [])
    return [[str(line["frame_index"]), str(i + 1), ",".join(str(v) for v in lesion["bbox"]),
             str(lesion["area_px"]), f"{lesion['seg_score']:.3f}", f"{lesion['malignancy']:.3f}",
             lesion["label"], str(ids[i]) if i < len(ids) else "–"]
            for i, lesion in enumerate(line["lesions"])]


@pytest.mark.slow
def test_watch_a_run_in_chromium(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    jsonl = tmp_path / "results.jsonl"
    run = _Run(["--source", "synthetic://?fps=12&seed=0",
                "--view", "127.0.0.1:0", "--jsonl", str(jsonl), "--smooth", "2"])
    shot = Path(os.environ.get("EDGE_SDK_VIEWER_SCREENSHOT") or tmp_path / "viewer.png")
    errors: list[str] = []
    samples: list[dict[str, Any]] = []
    try:
        assert run.url_ready.wait(120) and run.url, "".join(run.lines)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                headless=True, viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(run.url)
            _poll(page, "window.edgeView.framesReceived >= 3", 60)
            while run.proc.poll() is None and len(samples) < SAMPLES:
                samples.append(page.evaluate(SNAPSHOT))
                if len(samples) == SAMPLES - 4:
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shot), full_page=True)
                time.sleep(0.3)
            run.proc.send_signal(signal.SIGINT)  # Ctrl-C: the run prints its summary and ends
            assert run.wait(120) == 130, "".join(run.lines[-20:])
            _poll(page, "window.edgeView.ended", 10)
            final = page.evaluate(SNAPSHOT)
            browser.close()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert not errors, errors  # no script error and no policy violation in the page

    # frames arrive and change
    assert len(samples) == SAMPLES, "".join(run.lines[-20:])
    received = [s["received"] for s in samples]
    assert received == sorted(received) and received[-1] - received[0] >= 5
    assert len({s["frameIndex"] for s in samples}) >= 5
    assert len({hashlib.sha256(s["canvas"].encode()).hexdigest() for s in samples}) >= 5
    assert samples[0]["status"] == "live" and final["status"] == "ended"

    # counters rise while running and end equal to the run's JSON summary
    processed = [int(s["counters"]["processed"]) for s in samples if s["counters"]["processed"]]
    assert processed == sorted(processed) and processed[-1] > processed[0]
    summary = run.summary()
    for key, shown in final["counters"].items():
        assert json.loads(shown) == summary[key], key
    assert summary["processed"] > 0 and summary["view_frames_encoded"] >= final["received"] > 0

    # the lesion list is the JSONL's for the same frame; the image is the imaging area only
    lines = {line["frame_index"]: line for line in map(json.loads, jsonl.read_text().splitlines())}
    compared = 0
    for sample in samples + [final]:
        line = lines[int(sample["frameIndex"])]
        assert sample["rows"] == _lesion_rows(line), sample["frameIndex"]
        assert [sample["height"], sample["width"]] == line["frame_hw"]
        x0, y0, x1, y1 = line["imaging_region"]
        assert line["frame_hw"] == [y1 - y0, x1 - x0]
        compared += bool(line["lesions"])
    assert compared >= 3, "too few sampled frames had lesions to compare"
    assert "pending confirmation" in final["tracking"]  # the smoothing state is shown
    assert final["stages"][-2:] == ["total", "grab_to_result"]
    shipped = load_bundle(default_bundle_path())
    assert final["info"] == (f"{shipped.manifest.name} {shipped.manifest.version} @ "
                             f"{shipped.digest[:12]}")
    assert shot.stat().st_size > 10_000
