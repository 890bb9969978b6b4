from __future__ import annotations

import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import SOURCES, parse_uri, source_from_uri


@pytest.mark.parametrize(
    ("text", "scheme", "target", "params"),
    [
        ("synthetic://?fps=30&size=800x600", "synthetic", "", {"fps": "30", "size": "800x600"}),
        ("file:scan.mp4", "file", "scan.mp4", {}),
        ("file:///data/scan.mp4?pace=1", "file", "/data/scan.mp4", {"pace": "1"}),
        ("images:DIR", "images", "DIR", {}),
        ("v4l2:///dev/video0?fourcc=MJPG&size=1920x1080&fps=30", "v4l2", "/dev/video0",
         {"fourcc": "MJPG", "size": "1920x1080", "fps": "30"}),
        ("gst:videotestsrc num-buffers=3 ! videoconvert ! appsink", "gst",
         "videotestsrc num-buffers=3 ! videoconvert ! appsink", {}),
        ("dicom:cine.dcm", "dicom", "cine.dcm", {}),
        ("igtl://127.0.0.1:18944?device=Image", "igtl", "127.0.0.1:18944", {"device": "Image"}),
        ("push", "push", "", {}),
    ],
)
def test_parse_uri_table(text, scheme, target, params):
    parsed = parse_uri(text)
    assert (parsed.scheme, parsed.target, parsed.params) == (scheme, target, params)


def test_plain_paths_pick_a_kind_by_type(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="neither a known URI nor a path of a known type"):
        parse_uri(str(tmp_path / "notes.txt"))
    assert parse_uri(str(tmp_path)).scheme == "images"
    assert parse_uri(str(tmp_path / "a.png")).scheme == "images"
    assert parse_uri("scan.mp4").scheme == "file"
    assert parse_uri("cine.dcm").scheme == "dicom"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("webcam:0", r"unknown source scheme 'webcam'.*accepted schemes: \['dicom'"),
        ("notes.txt", "does not exist; expected an existing folder"),
        ("/nonexistent", "does not exist"),
        ("", "the source is empty"),
        ("file:x.mp4?pace", "bad parameter 'pace'"),
        ("images:x?colour=1", r"unknown parameter\(s\) \['colour'\]; accepted: fps"),
    ],
)
def test_bad_uris_list_what_is_accepted(text, message):
    with pytest.raises(SourceError, match=message):
        source_from_uri(text)


def test_registry_is_a_plain_dict_of_classes_with_from_uri():
    assert isinstance(SOURCES, dict)
    for kind, cls in SOURCES.items():
        assert cls.kind == kind
        assert callable(cls.from_uri)
        assert isinstance(cls.PARAMS, dict)


def test_sources_import_their_optional_libraries_only_when_opened():
    import subprocess
    import sys

    code = ("import sys, edge_sdk, edge_sdk.sources, edge_sdk.streaming, edge_sdk.igtl_output, "
            "edge_sdk.tracking, edge_sdk.cli; from edge_sdk.sources import source_from_uri; "
            "source_from_uri('igtl://127.0.0.1:1'); source_from_uri('dicom:x.dcm'); "
            "print([m for m in ('pydicom', 'pyigtl', 'gi') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
