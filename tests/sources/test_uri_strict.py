"""URIs a careless user writes: duplicated, non-finite or enormous values are refused, with a fix."""

from __future__ import annotations

import pytest

from edge_sdk.errors import SourceError
from edge_sdk.sources import source_from_uri
from edge_sdk.sources.uri import parse_uri


@pytest.mark.parametrize(("uri", "words"), [
    ("synthetic://?fps=30&fps=0", "parameter 'fps' is given twice"),
    ("synthetic://?FPS=30&fps=0", "parameter 'fps' is given twice"),
    ("synthetic://?size=100000x100000", "size '100000x100000' is not WIDTHxHEIGHT"),
    ("synthetic://?size=16000x16000", "is too large"),
    ("synthetic://?size=4096x4096", "is too large"),
    ("synthetic://?size=99999999999999999999x64", "not WIDTHxHEIGHT"),
    ("synthetic://?fps=inf", "fps='inf' is not a number >= 0 (finite)"),
    ("synthetic://?fps=nan", "fps='nan' is not a number"),
    ("synthetic://?frames=1e3", "frames='1e3' is not an integer"),
    ("synthetic://?=3", "bad parameter '=3'"),
    ("igtl://", "names no server"),
    ("igtl://host:99999", "is not HOST:PORT"),
    ("igtl://127.0.0.1:18944?timeout=inf", "timeout='inf'"),
])
def test_bad_uris_are_refused_with_a_fix(uri: str, words: str) -> None:
    with pytest.raises(SourceError) as info:
        source_from_uri(uri)
    message = str(info.value)
    assert words in message and "Fix:" in message, message


def test_the_largest_simulated_frame_still_works() -> None:
    source = source_from_uri("synthetic://?size=1920x1080&fps=0&frames=1")
    with source:
        assert source.read().pixels.shape[:2] == (1080, 1920)


def test_a_single_parameter_is_kept() -> None:
    assert parse_uri("synthetic://?fps=3").params == {"fps": "3"}
