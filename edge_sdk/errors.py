"""One exception hierarchy for the whole SDK.

Every message says what failed, what was expected, what was found and how to fix it, so that
an integrator reading a log line on a scanner does not need the source to act on it.
"""

from __future__ import annotations


class EdgeSDKError(Exception):
    """Base class of every error the SDK raises on purpose."""


class BundleError(EdgeSDKError):
    """A model bundle is missing, malformed, tampered with or unsupported."""


class FrameError(EdgeSDKError, ValueError):
    """A frame handed to the pipeline is not an image the pipeline can process."""


class BackendError(EdgeSDKError):
    """An inference backend was misused or failed (wrong inputs, not activated, ...)."""


class ConfigError(EdgeSDKError, ValueError):
    """A setting or argument has a value outside what is accepted."""


class MissingDependencyError(EdgeSDKError, ImportError):
    """An optional framework is needed but not installed; the message names the extra."""


class DatasetError(EdgeSDKError):
    """A dataset folder does not have the expected layout."""


class SourceError(EdgeSDKError):
    """A frame source cannot be opened, read or understood (bad URI, missing device, ...)."""


class SourceDisconnected(SourceError):
    """A live source lost its device or connection; the streaming runtime may reconnect."""


class PeerProtocolError(SourceDisconnected):
    """A network peer sent bytes that break its protocol; the link was dropped. The streaming
    runtime counts it as a source error, then reconnects with back-off."""


class ServingError(EdgeSDKError):
    """The inference server cannot be started, or answered a request with an error."""


class ServerUnavailable(ServingError):
    """The inference server cannot be reached (down, killed, restarting); retrying may work."""
