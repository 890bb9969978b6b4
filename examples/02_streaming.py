"""Stream frames through a bundle: the probe simulator, then frames pushed by "firmware" code.

    python examples/02_streaming.py [BUNDLE_DIR]

Without an argument it writes the tiny test bundle (real ONNX models, not medical ones) to a
temporary folder first. The same runtime serves every source: swap the URI for
``v4l2:///dev/video0``, ``igtl://127.0.0.1:18944?device=Image`` or ``dicom:cine.dcm``.
"""

from __future__ import annotations

import sys
import tempfile
import threading

from edge_sdk import Pipeline, PushSource, StreamRunner, source_from_uri
from edge_sdk.sources import ProbeSimulator
from edge_sdk.testing import make_tiny_bundle


def main(argv: list[str]) -> int:
    bundle = argv[1] if len(argv) > 1 else make_tiny_bundle(tempfile.mkdtemp()).root
    with Pipeline(bundle) as pipeline:
        # 1. a live source: the simulated probe at 30 fps, cropped to its imaging area so the
        #    burned-in patient text never reaches results; newest frame wins if we fall behind
        source = source_from_uri("synthetic://?fps=30&size=640x480&seed=1")
        with StreamRunner(pipeline, source, region="auto", max_frames=30) as runner:
            for item in runner:
                truth = len(item.info["truth"]["lesions"])
                found = [f"{l.label} {l.malignancy:.2f}" for l in item.result.lesions]
                if item.frame_index % 10 == 0:
                    print(f"frame {item.frame_index}: {len(found)}/{truth} lesions {found}, "
                          f"{item.latency_ms:.1f} ms grab-to-result")
        print(runner.stats.progress_line())

        # 2. a vendor SDK callback pushes frames from its own thread; push() never blocks it
        pushed = PushSource(capacity=4)
        simulator = ProbeSimulator((640, 480), seed=2)

        def vendor_callback_thread() -> None:
            for k in range(20):
                pushed.push(simulator.render(k)[0], timestamp=k / 30)
            pushed.end()

        with StreamRunner(pipeline, pushed, region="auto") as runner:
            threading.Thread(target=vendor_callback_thread).start()
            results = list(runner)
        stats = runner.stats
        # every frame is accounted for: processed + dropped (at the source or in the runtime)
        print(f"pushed 20: processed {len(results)}, dropped at source "
              f"{stats.dropped_at_source}, in runtime {stats.dropped_in_runtime}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
