"""`emotui serve`: the TUI in a browser (emotui.tui.serve); nothing of it loads before it runs."""

from __future__ import annotations

import argparse
import shlex
import sys

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.runstore import resolve_runs_dir
from emotui.core.trackers import TRACKERS

DESCRIPTION = """\
Serve emotui's terminal UI to web browsers: every screen as in the terminal, each browser tab
its own session (its own app process). Bound to 127.0.0.1 by default: from a laptop, reach a
cluster's login node through an SSH tunnel:

  ssh -N -L 8000:127.0.0.1:8000 login-node     # then open http://localhost:8000

Anyone who reaches the port can do what the TUI does (launch, cancel, resume, delete runs):
--read-only serves a session that only shows them. Another --host needs --allow-remote.
"""
EPILOG = """\
examples:
  emotui serve                                  # http://127.0.0.1:8000, the runs of ./runs
  emotui serve --runs-dir /scratch/me/runs --port 8123
  emotui serve --read-only --trackio emotion    # for a meeting: look only, trackio runs beside
  emotui serve --host 0.0.0.0 --allow-remote --read-only
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "serve", parents=[common], help="serve the TUI to web browsers (textual-serve)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--read-only", "--read_only", dest="read_only", action="store_true",
                        help="look only: nothing can be launched, cancelled, resumed or deleted")
    parser.add_argument("--allow-remote", "--allow_remote", dest="allow_remote",
                        action="store_true",
                        help="allow a --host other than loopback (anyone reaching the port "
                        "controls your runs unless --read-only)")
    parser.add_argument("--max-sessions", "--max_sessions", dest="max_sessions", type=int,
                        default=8, metavar="N",
                        help="browser sessions (app processes) at once (default: 8)")
    parser.add_argument("--public-url", "--public_url", dest="public_url", metavar="URL",
                        help="the URL browsers use, when a reverse proxy sits in front")
    for spec in TRACKERS:
        parser.add_argument(f"--{spec.name}", metavar=spec.project_metavar, default=None,
                            help=f"also show this {spec.label} project's runs (as emotui "
                            f"--{spec.name})")
    parser.set_defaults(handler=handle)


def app_command(root: str, *, read_only: bool, projects: dict[str, str]) -> str:
    """The shell command textual-serve starts for each browser session: this Python, this
    emotui, the same store (never the server's environment's guess) and choices."""
    argv = [sys.executable, "-m", "emotui", "--runs-dir", root]
    for name, project in projects.items():
        argv += [f"--{name}", project]
    if read_only:
        argv.append("--read-only")
    # textual-serve runs it through a shell: exec makes the app that shell's process, so a
    # session is one process and stopping it (even by a kill) stops the app itself.
    return "exec " + shlex.join(argv)


def check_bind(host: str, *, allow_remote: bool) -> None:
    from emotui.tui.serve import is_loopback  # lazy: pulls textual-serve and aiohttp

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"--host {host} would let anyone who reaches this machine's port control your runs; "
            "add --allow-remote to do so (with --read-only to only show them), or keep 127.0.0.1 "
            "and use an SSH tunnel: ssh -N -L 8000:127.0.0.1:8000 THIS-HOST")


def handle(args: argparse.Namespace) -> int:
    import os
    import socket

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: give a port between 1 and 65535")
    if args.max_sessions < 1:
        raise ConfigError("--max-sessions: give at least 1")
    check_bind(args.host, allow_remote=args.allow_remote)
    root = resolve_runs_dir(args.runs_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"run store {root} is a file, not a folder; give --runs-dir a folder")
    if root.exists() and not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(f"run store {root} is not readable; check its permissions")

    from emotui.tui.serve import EmotuiServer, is_loopback  # lazy: as in check_bind

    projects = {spec.name: getattr(args, spec.name) for spec in TRACKERS
                if getattr(args, spec.name, None)}
    command = app_command(str(root), read_only=args.read_only, projects=projects)
    title = f"emotui · {root.name}{' (read-only)' if args.read_only else ''}"
    server = EmotuiServer(command, host=args.host, port=args.port, title=title,
                          public_url=args.public_url, max_sessions=args.max_sessions)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    mode = "read-only" if args.read_only else "full control: launch, cancel, resume, delete"
    print(f"emotui serve: http://{shown_host}:{args.port}  (store {root}; {mode})")
    if not is_loopback(args.host):
        print(f"emotui: warning: listening on {args.host}: anyone who reaches port {args.port} "
              + ("sees your runs" if args.read_only else "controls your runs (launch, cancel, "
                 "resume, delete); --read-only only shows them"), file=sys.stderr)
    else:
        print(f"  from elsewhere: ssh -N -L {args.port}:127.0.0.1:{args.port} "
              f"{socket.gethostname()}, then http://localhost:{args.port}")
    print("  Ctrl+C stops it", flush=True)
    try:
        server.serve()
    except OSError as exc:
        raise EmotuiError(f"cannot listen on {args.host}:{args.port}: "
                          f"{exc.strerror or exc}") from None
    return 0
