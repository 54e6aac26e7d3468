"""What a control or report worker posts, and what the user is told of it.

A worker calls emotui.tui.control on its own thread and posts the message built here (a failure
is a message too, never an exception left in a thread); the screen's handler passes the message
on to the notify function, so every screen words the same outcome the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from textual.widget import Widget

from emotui.core.errors import EmotuiError
from emotui.core.runstore import RunStore
from emotui.tui import control
from emotui.tui.messages import ReportWritten, RunControlled


def control_outcome(verb: str, run_id: str, act: Callable[[], str | None]) -> RunControlled:
    """Run a control action on one run (on the worker's thread): what happened, or why not."""
    try:
        note = act()
    except EmotuiError as exc:
        return RunControlled(verb, run_id, error=str(exc))
    return RunControlled(verb, run_id, note=note)


def notify_controlled(widget: Widget, message: RunControlled) -> None:
    if message.error:
        widget.notify(message.error, title=f"{message.verb} failed", severity="error")
    else:
        widget.notify(f"{message.run_id}: {message.note or message.verb.lower()}",
                      title=message.verb)


def report_outcome(store: RunStore | None, refs: list[str], path: Path,
                   shown: list[dict[str, Any]] | None = None) -> ReportWritten:
    """Write `emotui report` of refs (and shown) to path (on the worker's thread: drawing its
    figures takes a few seconds); the file written, or why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        written = control.write_report(store, refs, path, shown=shown)
    except (EmotuiError, OSError) as exc:
        return ReportWritten(None, str(exc))
    return ReportWritten(written)


def notify_report(widget: Widget, message: ReportWritten) -> None:
    if message.error:
        widget.notify(message.error, title="No report", severity="error", markup=False)
    else:
        widget.notify(str(message.path), title="Report written", markup=False)
        deliver(widget, message.path, open_in_browser=True)


def deliver(widget: Widget, path: Path | None, *, open_in_browser: bool = False) -> None:
    """In a browser (emotui serve), hand a file the app wrote on the server to the browser too:
    a report opens in a new tab, an export downloads. In a terminal the file is where the
    notice says, nothing more."""
    if path is None or not widget.app.is_web:
        return
    try:
        widget.app.deliver_binary(path, open_method="browser" if open_in_browser else "download")
    except OSError as exc:
        widget.notify(f"could not send {path.name} to the browser: {exc.strerror or exc}",
                      severity="warning")
