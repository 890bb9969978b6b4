"""The viewer's web server: aiohttp on an event loop of its own thread.

Routes (GET only; the page can change nothing): ``/`` the page, ``/static/*`` its script and
style (shipped in the package; nothing is fetched from elsewhere), ``/ws`` the live feed.

The feed is one WebSocket per browser. Text messages are JSON (``hello`` once, ``state`` twice a
second, ``end`` when the stream ends); binary messages are frames (see
:func:`edge_sdk.viewer.frames.pack_frame`). A browser gets its next frame only after it answered
``ack`` for the last one, so each one sets its own frame rate and a slow or vanished browser
holds no frames queued; the heartbeat closes a vanished one's socket.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from edge_sdk._optional import import_optional
from edge_sdk.errors import ConfigError
from edge_sdk.viewer.address import ViewAddress

logger = logging.getLogger(__name__)

STATE_EVERY_S = 0.5
_STATIC = {"viewer.js": "text/javascript", "viewer.css": "text/css"}
# The page loads its own script and style only; frames are blob: images; nothing else.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.credit = asyncio.Event()
        self.credit.set()  # the first frame needs no ack
        self.last_seq = 0
        self.sent = 0
        self.state_busy = False


class ViewerServer:
    """Serves the page and feeds every connected browser.

    Args:
        address: Where to listen.
        token: Access token the page and feed require (``?token=``); ``None``: none required.
        hello: Called once per browser: the run's fixed facts (source, backend, bundle...).
        state: Called twice a second: counters and latency (computed in this server's thread).
        frame: Returns the newest encoded frame as ``(sequence, bytes)``, or ``None``.
        request_frame: Tells the encoder a browser waits for a frame newer than ``frame()``'s.
    """

    def __init__(self, address: ViewAddress, token: str | None,
                 hello: Callable[[], dict[str, Any]], state: Callable[[], dict[str, Any]],
                 frame: Callable[[], tuple[int, bytes] | None],
                 request_frame: Callable[[], None]) -> None:
        self.address, self.token = address, token
        self._hello, self._state, self._frame, self._request = hello, state, frame, request_frame
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._frame_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._assets: dict[str, bytes] = {}
        self.port = address.port
        self.connections = 0
        self.cpu_s = 0.0
        """CPU time of the server's thread so far (s), updated with each state message."""

    # ---- lifecycle (called from the run's thread) ------------------------------------------
    def start(self) -> None:
        """Bind and serve; raises :class:`ConfigError` when the address cannot be used."""
        self._web = import_optional("aiohttp.web", "view", "the live viewer (--view)")
        package = resources.files("edge_sdk.viewer") / "static"
        for name in ("index.html", *_STATIC):
            self._assets[name] = (package / name).read_bytes()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="edge-sdk-viewer",
                                        daemon=True)
        self._thread.start()
        ready.wait(30.0)
        if self._startup_error is not None:
            raise ConfigError(f"viewer: cannot listen on {self.address.host}:{self.address.port}"
                              f" ({self._startup_error}). Fix: choose a free port, e.g. --view "
                              f"{self.address.host}:0 for any") from self._startup_error

    def notify_frame(self) -> None:
        """A new encoded frame is ready (thread-safe)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_frame)

    def broadcast(self, message: dict[str, Any], timeout: float = 2.0) -> None:
        """Send ``message`` to every browser and wait until sent (or ``timeout``)."""
        if self._loop is None or self._loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._send_all(json.dumps(message)), self._loop)
        try:
            future.result(timeout)
        except Exception as exc:  # noqa: BLE001 - a browser that went away is not an error
            logger.info("viewer: broadcast incomplete: %s", exc)

    def stop(self, timeout: float = 3.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                logger.info("viewer: shutdown incomplete: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    @property
    def clients(self) -> int:
        return len(self._clients)

    # ---- the event loop thread --------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _setup(self) -> None:
        web = self._web
        self._frame_event = asyncio.Event()
        @web.middleware  # a plain function: the marker cannot be set on a bound method
        async def headers(request: Any, handler: Any) -> Any:
            return await self._headers(request, handler)

        app = web.Application(middlewares=[headers])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._feed)
        app.router.add_get("/favicon.ico", self._no_icon)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address.host, self.address.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._state_task = asyncio.get_running_loop().create_task(self._state_loop())

    async def _shutdown(self) -> None:
        self.cpu_s = time.thread_time()
        self._state_task.cancel()
        for client in list(self._clients):
            await client.ws.close(code=1001, message=b"stream ended")
        await self._runner.cleanup()

    # ---- HTTP -------------------------------------------------------------------------------
    async def _headers(self, request: Any, handler: Any) -> Any:
        response = await handler(request)
        if not getattr(response, "prepared", False):
            response.headers.update({"Content-Security-Policy": _CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-store"})
        return response

    def _refused(self, request: Any) -> Any:
        """A 403 response when the token or origin is wrong, else ``None``."""
        web = self._web
        if self.token is not None and not hmac.compare_digest(
                request.query.get("token", "").encode(), self.token.encode()):
            return web.Response(status=403, text="edge-sdk viewer: wrong or missing access "
                                "token. Fix: open the URL that edge-sdk run printed, with its "
                                "?token=...\n")
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            # another site's page in the same browser must not read the stream
            return web.Response(status=403, text=f"edge-sdk viewer: origin {origin} is not "
                                "this viewer's page\n")
        return None

    async def _index(self, request: Any) -> Any:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return self._web.Response(body=self._assets["index.html"], content_type="text/html",
                                  charset="utf-8")

    async def _no_icon(self, request: Any) -> Any:
        return self._web.Response(status=204)

    async def _static(self, request: Any) -> Any:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise self._web.HTTPNotFound()
        return self._web.Response(body=self._assets[name], content_type=_STATIC[name],
                                  charset="utf-8")

    # ---- the feed ---------------------------------------------------------------------------
    async def _feed(self, request: Any) -> Any:
        refused = self._refused(request)
        if refused is not None:
            return refused
        web = self._web
        ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=1024)
        await ws.prepare(request)
        client = _Client(ws)
        self._clients.add(client)
        self.connections += 1
        sender = asyncio.get_running_loop().create_task(self._send_frames(client))
        try:
            await ws.send_str(json.dumps({"type": "hello", **self._hello()}))
            async for message in ws:
                if message.type == web.WSMsgType.TEXT and message.data == "ack":
                    client.credit.set()
                # anything else is ignored: the page is read-only
        finally:
            sender.cancel()
            self._clients.discard(client)
        return ws

    def _on_frame(self) -> None:
        if self._frame_event is not None:
            self._frame_event.set()
            self._frame_event = asyncio.Event()

    async def _send_frames(self, client: _Client) -> None:
        try:
            while not client.ws.closed:
                await client.credit.wait()
                client.credit.clear()
                while True:
                    frame = self._frame()
                    if frame is not None and frame[0] > client.last_seq:
                        break
                    event = self._frame_event
                    self._request()
                    if event is not None:
                        await event.wait()
                await client.ws.send_bytes(frame[1])
                client.last_seq = frame[0]
                client.sent += 1
        except (ConnectionError, RuntimeError) as exc:  # the browser went away mid-send
            logger.info("viewer: a browser left: %s", exc)

    async def _send_state(self, client: _Client, text: str) -> None:
        client.state_busy = True
        try:
            await client.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            client.state_busy = False

    async def _send_all(self, text: str) -> None:
        await asyncio.gather(*(self._send_state(c, text) for c in list(self._clients)
                               if not c.ws.closed))

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_EVERY_S)
            self.cpu_s = time.thread_time()  # this thread's CPU: what serving costs
            if not self._clients:
                continue  # nobody looks: compute nothing
            text = json.dumps(self._state())
            for client in list(self._clients):
                if not client.state_busy and not client.ws.closed:  # a slow browser skips one
                    asyncio.get_running_loop().create_task(self._send_state(client, text))
