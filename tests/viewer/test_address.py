"""``--view [HOST:]PORT`` parsing and the access-token default."""

from __future__ import annotations

import pytest

from edge_sdk.errors import ConfigError
from edge_sdk.viewer.address import TOKEN_ENV, ViewAddress, parse_view_address, resolve_token


@pytest.mark.parametrize(("text", "host", "port", "loopback", "error"), [
    ("8765", "127.0.0.1", 8765, True, None),
    ("0", "127.0.0.1", 0, True, None),
    ("localhost:9000", "localhost", 9000, True, None),
    ("0.0.0.0:8080", "0.0.0.0", 8080, False, None),
    ("192.168.1.20:8080", "192.168.1.20", 8080, False, None),
    ("[::1]:9000", "::1", 9000, True, None),
    ("[::]:9000", "::", 9000, False, None),
    ("jetson.local:80", "jetson.local", 80, False, None),
    (":8080", None, None, None, "host before ':' is empty"),
    ("host:port", None, None, None, "expected [HOST:]PORT"),
    ("70000", None, None, None, "outside 0-65535"),
    ("[::1]9000", None, None, None, "[ADDRESS]:PORT"),
])
def test_parse_view_address(text: str, host: str | None, port: int | None,
                            loopback: bool | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
            parse_view_address(text)
        return
    address = parse_view_address(text)
    assert (address.host, address.port, address.loopback) == (host, port, loopback)


def test_token_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert resolve_token(ViewAddress(), None) is None  # this machine only: no token needed
    remote = ViewAddress("0.0.0.0", 8765)
    first, second = resolve_token(remote, None), resolve_token(remote, None)
    assert first and second and first != second and len(first) >= 16  # random per run
    assert resolve_token(remote, "given") == "given"
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(ViewAddress(), None) == "from-env"
