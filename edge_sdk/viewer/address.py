"""``--view [HOST:]PORT``: where the viewer listens, and who may look."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass

from edge_sdk.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "EDGE_SDK_VIEW_TOKEN"


@dataclass(frozen=True)
class ViewAddress:
    """A host and port to serve the viewer on.

    Attributes:
        host: Interface address; loopback unless the user names another.
        port: TCP port; 0 lets the system pick a free one (the printed URL shows it).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"viewer port {self.port} is outside 0-65535. Fix: --view "
                              f"[HOST:]PORT, e.g. --view {DEFAULT_PORT}")

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the address."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_view_address(text: str) -> ViewAddress:
    """Parse ``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; a bare port binds loopback only.

    Example:
        >>> parse_view_address("8080")
        ViewAddress(host='127.0.0.1', port=8080)
        >>> parse_view_address("0.0.0.0:9000").loopback
        False
        >>> parse_view_address("[::1]:9000")
        ViewAddress(host='::1', port=9000)
    """
    raw = text.strip()
    host, port_text = DEFAULT_HOST, raw
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0 or raw[close + 1 : close + 2] != ":":
            raise ConfigError(f"--view {text!r}: an IPv6 host is written [ADDRESS]:PORT")
        host, port_text = raw[1:close], raw[close + 2 :]
    elif ":" in raw:
        host, _, port_text = raw.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--view {text!r}: expected [HOST:]PORT, e.g. 8765 (this machine "
                          "only) or 0.0.0.0:8765 (every interface)") from None
    if not host:
        raise ConfigError(f"--view {text!r}: the host before ':' is empty. Fix: drop the ':' "
                          f"for {DEFAULT_HOST}, or name the interface")
    return ViewAddress(host, port)


def resolve_token(address: ViewAddress, token: str | None) -> str | None:
    """The access token: the one given, else ``$EDGE_SDK_VIEW_TOKEN``, else a random one when
    the address is reachable from other machines (loopback needs none)."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not address.loopback:
        token = secrets.token_urlsafe(16)
    return token
