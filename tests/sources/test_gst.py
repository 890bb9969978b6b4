"""GStreamer: videotestsrc through OpenCV's backend or PyGObject, where either exists."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from edge_sdk.errors import MissingDependencyError, SourceError
from edge_sdk.sources import GstSource, source_from_uri
from edge_sdk.sources.gst import SYSTEM_PACKAGES, opencv_has_gstreamer
from tests.sources.contract import SourceContract

PIPELINE = ("videotestsrc is-live=true num-buffers=5 ! video/x-raw,width=96,height=64,"
            "framerate=50/1 ! videoconvert ! video/x-raw,format=BGR ! appsink")
UNPACED = ("videotestsrc num-buffers=40 ! video/x-raw,width=96,height=64 ! videoconvert ! "
           "video/x-raw,format=BGR ! appsink")


def _find_gi() -> bool:
    """PyGObject importable, or Debian's python3-gi built for this very Python X.Y.

    A virtual environment (pyenv's Python here) does not see Debian's dist-packages; exposing
    only its ``gi`` package, when the compiled extension matches this interpreter's ABI tag, lets
    the PyGObject path be tested without leaking any other system package into the run.
    """
    if importlib.util.find_spec("gi") is not None:
        return True
    debian_gi = Path("/usr/lib/python3/dist-packages/gi")
    if not list(debian_gi.glob(f"_gi{sysconfig.get_config_var('EXT_SUFFIX')}")):
        return False
    shim = Path(tempfile.mkdtemp(prefix="edge_sdk_gi_"))
    (shim / "gi").symlink_to(debian_gi)
    sys.path.append(str(shim))
    return importlib.util.find_spec("gi") is not None


def _gst_problem() -> str | None:
    """None where a gst source can run here; else what is missing and the apt-get line that fixes it.

    Asks for what the source uses, not just for ``gi``: the ``Gst`` and ``GstApp`` namespaces
    (GStreamer's typelibs) and the elements the test pipelines name (base plugins).
    """
    if opencv_has_gstreamer():
        return None
    fix = f"Fix (Debian/Ubuntu; JetPack ships them): sudo apt-get install {SYSTEM_PACKAGES}"
    if not _find_gi():
        return f"GStreamer: neither OpenCV built with GStreamer nor PyGObject (gi) here. {fix}"
    import gi

    try:
        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        from gi.repository import Gst
    except (ValueError, ImportError) as exc:
        return f"GStreamer: PyGObject is here but not the Gst/GstApp namespaces ({exc}). {fix}"
    if not Gst.is_initialized():
        Gst.init(None)
    missing = [e for e in ("videotestsrc", "videoconvert", "appsink")
               if Gst.ElementFactory.find(e) is None]
    if missing:
        return f"GStreamer: elements {missing} are not installed. {fix}"
    return None


GST_PROBLEM = _gst_problem()
NO_GST = pytest.mark.skipif(GST_PROBLEM is not None, reason=GST_PROBLEM or "")


@NO_GST
class TestGstContract(SourceContract):
    finite = False  # the OpenCV path reports the end of a pipeline as a lost device
    @pytest.fixture()
    def source(self, tmp_path):
        return GstSource(PIPELINE)

    @pytest.fixture()
    def uri(self, tmp_path):
        return f"gst:{PIPELINE}"


@NO_GST
def test_videotestsrc_frames():
    with source_from_uri(f"gst:{PIPELINE}") as source:
        frames = [source.read(timeout=5.0) for _ in range(3)]
    assert all(f.pixels.shape == (64, 96, 3) for f in frames)
    assert [f.index for f in frames] == [0, 1, 2]
    stamps = [f.device_timestamp for f in frames]  # buffer times of a 50 fps source
    assert stamps[2] - stamps[1] == pytest.approx(0.02, abs=1e-3)


@NO_GST
def test_frames_the_appsink_dropped_for_a_slow_reader_are_counted():
    import time

    if opencv_has_gstreamer():
        pytest.skip("OpenCV's GStreamer backend does not expose buffer offsets")
    with GstSource(UNPACED) as source:
        frames = []
        for frame in source:  # a fast producer, a reader slower than it
            frames.append(frame)
            time.sleep(0.01)
    assert len(frames) + source.dropped_at_source == 40
    assert source.dropped_at_source > 0


def test_without_pygobject_the_error_names_the_system_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "gi", None)  # as on a machine without python3-gi
    with pytest.raises(MissingDependencyError, match="apt-get install .*python3-gi"):
        GstSource(PIPELINE, use_opencv=False).open()


def test_a_pipeline_without_appsink_is_refused():
    with pytest.raises(SourceError, match="has no appsink"):
        source_from_uri("gst:videotestsrc ! autovideosink")


def test_the_skip_reason_for_missing_typelibs_names_the_apt_line(monkeypatch):
    """Where python3-gi exists but GStreamer's typelibs do not (the first-contact failure)."""
    import types

    def require_version(namespace: str, version: str) -> None:
        raise ValueError(f"Namespace {namespace} not available")

    monkeypatch.setattr(sys.modules[__name__], "opencv_has_gstreamer", lambda: False)
    monkeypatch.setattr(sys.modules[__name__], "_find_gi", lambda: True)
    monkeypatch.setitem(sys.modules, "gi", types.SimpleNamespace(require_version=require_version))
    problem = _gst_problem()
    assert problem is not None and "Namespace Gst not available" in problem
    assert f"apt-get install {SYSTEM_PACKAGES}" in problem
