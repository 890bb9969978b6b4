"""Fuzzed source URIs: any text either parses into a source (not opened) or is refused with a
SourceError that carries a fix; never another exception."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from edge_sdk.errors import SourceError
from edge_sdk.sources import SOURCES, source_from_uri
from tests.fuzz.conftest import SEEN, fuzz_settings

SCHEMES = st.sampled_from([*SOURCES, "http", "x", ""])
KEYS = st.sampled_from(["fps", "size", "seed", "lesions", "frames", "probe", "color", "doppler",
                        "device", "timeout", "max_mb", "pace", "fourcc", "capacity", "split",
                        "FPS", ""])
VALUES = st.one_of(st.text(max_size=12), st.sampled_from(
    ["0", "-1", "1e309", "inf", "nan", "100000x100000", "64x64", "800x600", "1", "true",
     "9" * 30, "0x0", "\x00"]))


@st.composite
def uris(draw: st.DrawFn) -> str:
    scheme = draw(SCHEMES)
    target = draw(st.one_of(st.just(""), st.text(max_size=20),
                            st.sampled_from(["127.0.0.1:1", "host", ":", "/dev/null", "."])))
    params = draw(st.lists(st.tuples(KEYS, VALUES), max_size=4))
    query = "&".join(f"{k}={v}" for k, v in params)
    sep = draw(st.sampled_from(["://", ":", ""]))
    return f"{scheme}{sep}{target}" + (f"?{query}" if query else "")


@fuzz_settings(300)
@given(text=st.one_of(uris(), st.text(max_size=40)))
@example(text="synthetic://?size=100000x100000")
@example(text="igtl://")
@example(text="synthetic://?fps=1&fps=2")
def test_any_uri_parses_or_is_refused_with_a_fix(text: str) -> None:
    SEEN["uris"] += 1
    try:
        source = source_from_uri(text)
    except SourceError as exc:
        assert "Fix:" in str(exc), str(exc)
    else:
        assert not source.is_open and source.kind in SOURCES
