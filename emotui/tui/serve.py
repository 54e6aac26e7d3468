"""`emotui serve`: the TUI in a browser, one app process per browser tab.

Textualize's textual-serve does the serving: an aiohttp server whose page runs xterm.js and
whose websocket starts the app command for each browser session (``python -m emotui
--runs-dir DIR [--read-only]``), relaying its screen and the browser's keys and mouse. What
emotui adds is what a server that can cancel and delete runs needs:

- it answers only to the names of this machine's loopback address when bound there (a web page
  elsewhere cannot reach it through DNS rebinding), and a browser's websocket only from a page
  it served itself (the Origin check: another site open in the same browser cannot drive it);
- the page's addresses follow the address the browser used (an SSH tunnel on another local
  port works), and it loads nothing from outside (its font is served with it);
- at most ``max_sessions`` app processes at once, each session logged with its peer;
- a run's own address, ``/run/<run id>``: its session opens on that run's detail (a link to
  paste for a colleague, as W&B's run pages).

Binding to an address other than loopback, and --read-only, are decided by the CLI
(``emotui.cli.serve_cmd``); read-only itself is enforced by each app process
(``tui/sources/read_only.py``), not by hiding keys in the page.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

log = logging.getLogger("emotui.serve")

PAGE_DIR = Path(__file__).parent / "serve_page"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
DEFAULT_MAX_SESSIONS = 8
# What /run/<ref> may name: a run id or a unique part of one (never a path).
RUN_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# How long a session's app may take to exit once told to quit, before it is killed.
APP_EXIT_S = 10.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 maybe in brackets) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _size(text: str | None, default: int) -> int:
    try:
        return max(10, min(int(text or default), 1000))
    except ValueError:
        return default


class AppSession(AppService):
    """textual-serve's app process of one session; ``stop`` also waits for the process to exit
    (textual-serve's returns once its output ends): reaped before the server's loop closes,
    instead of asyncio warning of a pid it can no longer handle on every Ctrl+C."""

    async def stop(self) -> None:
        await super().stop()
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), APP_EXIT_S)
        except asyncio.TimeoutError:
            log.warning("a session's app did not quit within %.0f s: killed", APP_EXIT_S)
            process.kill()
            await process.wait()


class EmotuiServer(Server):
    """textual-serve's ``Server`` with emotui's guards and page."""

    def __init__(self, command: str, *, host: str, port: int, title: str,
                 public_url: str | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS):
        super().__init__(command, host=host, port=port, title=title, public_url=public_url,
                         templates_path=PAGE_DIR)
        self.given_public_url = public_url.rstrip("/") if public_url else None
        self.loopback_only = is_loopback(host)
        self.max_sessions = max_sessions
        self.sessions = 0

    def command_for(self, run: str | None) -> str:
        """A session's app command: a run's address adds --open RUN."""
        return f"{self.command} --open {shlex.quote(run)}" if run else self.command

    def initialize_logging(self) -> None:
        """textual-serve's log, less aiohttp's line per request (every script and font of every
        page): the terminal shows sessions opened and closed, refusals and errors."""
        super().initialize_logging()
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    # --- guards ---------------------------------------------------------------------------------

    def refusal(self, request: web.Request) -> tuple[int, str] | None:
        """(HTTP status, why) when a request must not be served; None when it may."""
        host = urlsplit(f"//{request.host}").hostname or ""
        allowed = {urlsplit(self.given_public_url).hostname} if self.given_public_url else set()
        if self.loopback_only and not is_loopback(host) and host not in allowed:
            return 403, (f"emotui serve answers to localhost only, not to '{request.host}' "
                         "(open http://localhost:PORT, through an SSH tunnel from elsewhere)")
        origin = request.headers.get("Origin")
        if request.path.startswith("/ws") and origin and origin != "null":
            if urlsplit(origin).netloc not in {request.host, *self._public_netloc()}:
                return 403, f"websocket from another site ({origin}) refused"
        return None

    def _public_netloc(self) -> set[str]:
        return {urlsplit(self.given_public_url).netloc} if self.given_public_url else set()

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            status, why = refused
            log.warning("refused %s %s from %s: %s", request.method, request.path,
                        request.remote, why)
            return web.Response(status=status, text=why + "\n")
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        app.router.add_get("/run/{run}", self.handle_index)
        app.router.add_get("/ws/run/{run}", self.handle_websocket)
        return app

    @staticmethod
    def run_of(request: web.Request) -> str | None:
        """The run a /run/<ref> address names (HTTPNotFound for anything but a run ref)."""
        run = request.match_info.get("run")
        if run is not None and not RUN_REF.fullmatch(run):
            raise web.HTTPNotFound(text="not a run id\n")
        return run

    # --- the page and the sessions --------------------------------------------------------------

    def base_url(self, request: web.Request) -> str:
        """Where the browser reached us (the tunnel's local port, not ours), or --public-url."""
        return self.given_public_url or f"{request.scheme}://{request.host}"

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        run = self.run_of(request)
        base = self.base_url(request)
        scheme, rest = base.split(":", 1)
        socket = f"/ws/run/{run}" if run else "/ws"
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        return {
            "font_size": max(6, min(font_size, 48)),
            "app_websocket_url": ("wss:" if scheme == "https" else "ws:") + rest + socket,
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": f"{self.title} · {run}" if run else self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's session (one app process relaying the page's keys and the app's
        screen), with this session's command, the session cap and a reaped process."""
        command = self.command_for(self.run_of(request))
        if self.sessions >= self.max_sessions:
            log.warning("refused a session from %s: %d open (--max-sessions)", request.remote,
                        self.sessions)
            return web.Response(status=503, text=f"{self.sessions} sessions are open, the most "
                                "this server allows (emotui serve --max-sessions)\n")
        self.sessions += 1
        log.info("session opened from %s (%d open)", request.remote, self.sessions)
        websocket = web.WebSocketResponse(heartbeat=15)
        session = None
        try:
            await websocket.prepare(request)
            session = AppSession(command, write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str, close=websocket.close,
                                 download_manager=self.download_manager, debug=self.debug)
            await session.start(_size(request.query.get("width"), 80),
                                _size(request.query.get("height"), 24))
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:  # the server is stopping
            await websocket.close()
        except Exception:
            log.exception("session from %s failed", request.remote)
        finally:
            if session is not None:
                await session.stop()
            self.sessions -= 1
            log.info("session from %s closed (%d open)", request.remote, self.sessions)
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """emotui's own lines are printed by the CLI; textual-serve's banner is not wanted."""
