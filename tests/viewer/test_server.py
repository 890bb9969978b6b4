"""The viewer's server on loopback, with aiohttp's real client: access, the feed, the costs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from edge_sdk.streaming.stats import StreamResult, StreamStats
from edge_sdk.viewer import LiveViewer, ViewAddress

TOKEN = "s3cret-token"


@pytest.fixture()
def viewer() -> Iterator[LiveViewer]:
    stats = StreamStats()
    stats.captured, stats.processed = 7, 6
    with LiveViewer(ViewAddress(port=0), token=TOKEN, info={"source": "test"},
                    stats=lambda: stats, max_fps=60) as live:
        yield live


def _base(viewer: LiveViewer) -> str:
    return f"http://127.0.0.1:{viewer.server.port}"


async def _get(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as r:
        return r.status, dict(r.headers), await r.read()


def test_page_needs_the_token_and_is_read_only(viewer: LiveViewer) -> None:
    base = _base(viewer)
    assert viewer.url == f"{base}/?token={TOKEN}"
    status, headers, body = asyncio.run(_get(viewer.url))
    assert status == 200 and b"edge-sdk" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"  # the token stays out of other logs
    assert asyncio.run(_get(base + "/"))[0] == 403
    assert asyncio.run(_get(base + "/?token=wrong"))[0] == 403
    assert asyncio.run(_get(viewer.url, method="POST"))[0] == 405  # nothing can be changed
    assert asyncio.run(_get(base + "/static/viewer.js"))[0] == 200  # assets hold no data
    assert asyncio.run(_get(base + "/static/../live.py"))[0] == 404
    assert asyncio.run(_get(base + "/static/secret.txt"))[0] == 404


@pytest.mark.parametrize(("query", "origin", "status"), [
    ("", None, 403),
    (f"?token={TOKEN}", "http://evil.example", 403),  # another site's page in the same browser
    (f"?token={TOKEN}", None, 101),
])
def test_feed_access(viewer: LiveViewer, query: str, origin: str | None, status: int) -> None:
    async def connect() -> int:
        headers = {"Origin": origin} if origin else {}
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(_base(viewer) + "/ws" + query, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
    assert asyncio.run(connect()) == status


async def _receive(ws: Any, seconds: float) -> tuple[list[dict[str, Any]], list[bytes]]:
    texts: list[dict[str, Any]] = []
    frames: list[bytes] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await ws.receive(timeout=left)
        except asyncio.TimeoutError:
            break
        if message.type == aiohttp.WSMsgType.TEXT:
            texts.append(json.loads(message.data))
        elif message.type == aiohttp.WSMsgType.BINARY:
            frames.append(message.data)
        else:
            break
    return texts, frames


def _index(frame: bytes) -> int:
    size = int.from_bytes(frame[:4], "big")
    return int(json.loads(frame[4 : 4 + size])["frame_index"])


def test_one_frame_in_flight_per_browser(viewer: LiveViewer,
                                         stream_items: list[StreamResult]) -> None:
    """A browser that does not acknowledge gets one frame and no more; nothing is queued for
    it and nothing more is encoded, however many results the run publishes."""
    for item in stream_items[:3]:
        viewer.publish(item)
    assert viewer.encoded == 0  # nobody looks: nothing is drawn or encoded

    async def session() -> tuple[list[dict[str, Any]], list[bytes], list[bytes], int]:
        async with aiohttp.ClientSession() as http, http.ws_connect(viewer.url.replace(
                "http://", "ws://").replace("/?", "/ws?")) as ws:
            texts, first = await _receive(ws, 1.0)
            for item in stream_items[3:]:
                viewer.publish(item)
            more_texts, none = await _receive(ws, 1.0)
            encoded_without_ack = viewer.encoded
            await ws.send_str("ack")
            _, second = await _receive(ws, 1.0)
            return texts + more_texts, first + none, second, encoded_without_ack

    texts, before_ack, after_ack, encoded_without_ack = asyncio.run(session())
    assert texts[0]["type"] == "hello" and texts[0]["info"] == {"source": "test"}
    states = [t for t in texts if t["type"] == "state"]
    assert states and states[-1]["counters"]["captured"] == 7
    assert states[-1]["latency"]["total"]["n"] == len(stream_items)
    assert len(before_ack) == 1 and _index(before_ack[0]) == stream_items[2].frame_index
    assert encoded_without_ack == 1  # the results published meanwhile were not even encoded
    assert len(after_ack) == 1 and _index(after_ack[0]) == stream_items[-1].frame_index
    counters = viewer.counters()
    assert counters["encoded"] == 2 and counters["withheld"] == 0
    assert counters["skipped"] == len(stream_items) - 2  # counted apart from the run's drops


def test_a_vanished_browser_costs_nothing(viewer: LiveViewer,
                                          stream_items: list[StreamResult]) -> None:
    async def vanish() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                viewer.url.replace("http://", "ws://").replace("/?", "/ws?")) as ws:
            await ws.receive(timeout=2.0)  # hello
            connection = ws._response.connection
            assert connection is not None and connection.transport is not None
            connection.transport.abort()  # gone without a goodbye
    asyncio.run(vanish())
    for _ in range(20):
        if viewer.server.clients == 0:
            break
        time.sleep(0.1)
    assert viewer.server.clients == 0
    for item in stream_items:
        viewer.publish(item)
    time.sleep(0.3)
    assert viewer.encoded <= 1  # at most the frame it had asked for before it vanished


def test_end_shows_the_final_summary(viewer: LiveViewer) -> None:
    summary = {"captured": 12, "processed": 11, "failed": 1, "fps": 9.5}

    async def watch() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                viewer.url.replace("http://", "ws://").replace("/?", "/ws?")) as ws:
            await ws.receive(timeout=2.0)
            await asyncio.get_running_loop().run_in_executor(None, viewer.finish, summary)
            texts, _ = await _receive(ws, 1.0)
            return texts
    ends = [t for t in asyncio.run(watch()) if t["type"] == "end"]
    assert len(ends) == 1 and ends[0]["counters"] == summary and ends[0]["ended"] is True
