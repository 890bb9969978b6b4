"""Source URIs for the CLI: ``scheme:target?key=value&...``, and the parameter parsers.

Accepted forms (see :data:`edge_sdk.sources.SOURCES` for the kinds)::

    synthetic://?fps=30&size=800x600&seed=1      file:scan.mp4?fps=0
    images:DIR                                   v4l2:///dev/video0?fourcc=MJPG&size=1920x1080&fps=30
    gst:videotestsrc ! videoconvert ! appsink    dicom:cine.dcm
    igtl://127.0.0.1:18944?device=Image          push

A plain path is accepted too: a folder or an image is ``images``, a ``.dcm`` file ``dicom`` and
a video ``file``. ``gst:`` takes the rest of the text verbatim as the pipeline (no parameters).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.errors import SourceError

MAX_SIDE = 16384
"""Largest width or height a size parameter may give (a capture card's largest mode is 8K)."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9]+):(.*)$", re.DOTALL)

EXAMPLES = (
    "synthetic://?fps=30&size=800x600",
    "file:scan.mp4",
    "images:DIR",
    "v4l2:///dev/video0?fourcc=MJPG&size=1920x1080&fps=30",
    "gst:videotestsrc ! videoconvert ! appsink",
    "dicom:cine.dcm",
    "igtl://127.0.0.1:18944?device=Image",
    "push",
)


@dataclass(frozen=True)
class SourceURI:
    """A parsed source URI.

    Attributes:
        scheme: The source kind, e.g. ``"igtl"``.
        target: What follows the scheme up to ``?``: a path, ``host:port``, a pipeline or ``""``.
        params: The ``key=value`` parameters, as text.

    Example:
        >>> parse_uri("igtl://127.0.0.1:18944?device=Image")
        SourceURI(scheme='igtl', target='127.0.0.1:18944', params={'device': 'Image'})
        >>> parse_uri("synthetic://?fps=30&size=800x600").params
        {'fps': '30', 'size': '800x600'}
    """

    scheme: str
    target: str
    params: dict[str, str] = field(default_factory=dict)


def _kind_of_path(path: Path) -> str:
    from edge_sdk.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    suffix = path.suffix.lower()
    known = IMAGE_SUFFIXES + VIDEO_SUFFIXES + (".dcm", ".dicom")
    if not path.exists() and suffix not in known:
        raise SourceError(
            f"the source {str(path)!r} does not exist; expected an existing folder, image, video "
            "or .dcm file, or a URI. Fix: correct the path, or use a URI such as: "
            + ", ".join(EXAMPLES)
        )
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        return "images"
    if suffix in (".dcm", ".dicom"):
        return "dicom"
    if suffix in VIDEO_SUFFIXES:
        return "file"
    raise SourceError(
        f"the source {str(path)!r} is neither a known URI nor a path of a known type ({suffix!r}); "
        "expected a folder, an image, a video, a .dcm file or a URI. Fix: convert the file, or "
        "use a URI such as: " + ", ".join(EXAMPLES)
    )


def parse_uri(text: str, schemes: tuple[str, ...] | None = None) -> SourceURI:
    """Split a source URI (or a plain path) into scheme, target and parameters.

    Args:
        text: The URI or path.
        schemes: The known schemes; default: the keys of :data:`edge_sdk.sources.SOURCES`.

    Raises:
        SourceError: unknown scheme, a malformed parameter, or a path of unknown type; the
            message lists the accepted forms.
    """
    if schemes is None:
        from edge_sdk.sources import SOURCES

        schemes = tuple(SOURCES)
    text = text.strip()
    if not text:
        raise SourceError("the source is empty; expected a path or URI. Fix: give one, e.g. "
                          + ", ".join(EXAMPLES))
    if text in schemes:
        return SourceURI(text, "")
    match = _SCHEME.match(text)
    if match is None or (len(match.group(1)) == 1):  # no scheme, or a Windows drive letter
        return SourceURI(_kind_of_path(Path(text)), text)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in schemes:
        if Path(text).exists():
            return SourceURI(_kind_of_path(Path(text)), text)
        raise SourceError(f"unknown source scheme {scheme!r} in {text!r}; accepted schemes: "
                          f"{sorted(schemes)}. Fix: use one of them, e.g. "
                          + ", ".join(EXAMPLES))
    if scheme == "gst":  # a pipeline holds '!', '=' and '?' of its own: take it verbatim
        return SourceURI(scheme, rest.strip())
    rest = rest.removeprefix("//")
    target, _, query = rest.partition("?")
    params: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SourceError(f"bad parameter {item!r} in {text!r}; expected key=value pairs "
                              "joined by '&'. Fix: e.g. ?fps=30&size=800x600")
        key = key.strip().lower()
        if key in params:  # which one was meant? never pick silently
            raise SourceError(f"parameter {key!r} is given twice in {text!r} ({params[key]!r} "
                              f"and {value.strip()!r}); expected each parameter once. Fix: "
                              "keep the one you mean")
        params[key] = value.strip()
    return SourceURI(scheme, target, params)


# ---- parameter parsers ------------------------------------------------------------------------
def check_params(kind: str, params: dict[str, str], accepted: dict[str, str]) -> None:
    """Raise :class:`SourceError` for parameters that ``kind`` does not accept, listing those it does."""
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        listing = "; ".join(f"{k}: {v}" for k, v in accepted.items()) or "none"
        raise SourceError(f"{kind}: unknown parameter(s) {unknown}; accepted: {listing}. Fix: "
                          "remove or correct them")


def parse_size(kind: str, text: str) -> tuple[int, int]:
    """``"800x600"`` → ``(800, 600)`` (width, height).

    Example:
        >>> parse_size("synthetic", "800x600")
        (800, 600)
    """
    match = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", text)
    if match is None or min(int(match.group(1)), int(match.group(2))) < 32 or max(
            int(match.group(1)), int(match.group(2))) > MAX_SIDE:
        raise SourceError(f"{kind}: size {text!r} is not WIDTHxHEIGHT with both in [32, "
                          f"{MAX_SIDE}]. Fix: e.g. size=800x600")
    return int(match.group(1)), int(match.group(2))


def parse_number(kind: str, name: str, text: str, minimum: float = 0.0,
                 integer: bool = False) -> float:
    """Parse a number parameter ``>= minimum`` (an integer when ``integer``)."""
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = None
    if value is None or not (value >= minimum and math.isfinite(value)):
        what = "an integer" if integer else "a number"
        raise SourceError(f"{kind}: {name}={text!r} is not {what} >= {minimum:g} (finite). "
                          "Fix: e.g. "
                          f"{name}={max(minimum, 1):g}")
    return value


def parse_bool(kind: str, name: str, text: str) -> bool:
    """``1/true/yes/on`` and ``0/false/no/off`` (any case); anything else is an error."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SourceError(f"{kind}: {name}={text!r} is not a boolean; expected 1/0, true/false, "
                      f"yes/no or on/off. Fix: e.g. {name}=1")
