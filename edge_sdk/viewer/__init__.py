"""A live web viewer: the overlay stream, lesions, latency and counters in any browser.

``edge-sdk run ... --view [HOST:]PORT`` (or ``edge-sdk view``) serves the page; see
:class:`LiveViewer`. Needs the ``view`` extra (aiohttp); the runtime itself does not.
"""

from edge_sdk.viewer.address import ViewAddress, parse_view_address
from edge_sdk.viewer.live import LiveViewer

__all__ = ["LiveViewer", "ViewAddress", "parse_view_address"]
