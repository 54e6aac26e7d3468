"""`emotui serve` without a browser: a bind beyond loopback needs --allow-remote and warns, the
app command each browser session starts carries the store and --read-only, the server answers
only to loopback names and to its own pages' websockets and caps its sessions, and a read-only
app refuses every launch and control action with a notice (enforced by the app, whatever keys a
browser sends)."""

from __future__ import annotations

import asyncio
import shlex

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from tui_helpers import wait_for

from emotui.cli.main import main
from emotui.cli.serve_cmd import app_command
from emotui.core.runstore import read_json
from emotui.tui.app import EmotuiApp, make_source
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.serve import EmotuiServer, is_loopback
from emotui.tui.sources import LocalRunSource
from emotui.tui.sources.read_only import REFUSAL, ReadOnlyView
from emotui.tui.widgets.run_table import RunTable

RUNNING = "251122-084500-lora-st4c"
FINISHED = "251121-111500-lora-mn7p"


@pytest.fixture
def no_serving(monkeypatch):
    """EmotuiServer.serve records its call instead of listening."""
    served = []
    monkeypatch.setattr(EmotuiServer, "serve", lambda self, debug=False: served.append(self))
    return served


def test_a_bind_beyond_loopback_needs_the_flag(tmp_path, capsys, no_serving):
    runs = str(tmp_path / "runs")
    assert main(["serve", "--runs-dir", runs, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and "control your runs" in err and not no_serving
    assert main(["serve", "--runs-dir", runs, "--host", "192.0.2.7", "--read-only"]) == 2
    assert not no_serving

    assert main(["serve", "--runs-dir", runs, "--host", "0.0.0.0", "--allow-remote"]) == 0
    out, err = capsys.readouterr()
    assert "http://0.0.0.0:8000" in out
    assert "warning: listening on 0.0.0.0: anyone who reaches port 8000 controls your runs" in err
    assert main(["serve", "--runs-dir", runs, "--host", "0.0.0.0", "--allow-remote",
                 "--read-only", "--port", "8123"]) == 0
    assert "anyone who reaches port 8123 sees your runs" in capsys.readouterr().err
    for host in ("127.0.0.1", "localhost", "::1"):
        assert main(["serve", "--runs-dir", runs, "--host", host]) == 0
        out, err = capsys.readouterr()
        assert "warning" not in err and "ssh -N -L 8000:127.0.0.1:8000" in out
    assert [s.host for s in no_serving] == ["0.0.0.0", "0.0.0.0", "127.0.0.1", "localhost",
                                            "::1"]
    assert all(not s.loopback_only for s in no_serving[:2])
    assert all(s.loopback_only for s in no_serving[2:])


def test_bad_requests_are_one_line(tmp_path, capsys, no_serving):
    (tmp_path / "file").write_text("x")
    for argv, words in ((["--port", "0"], "--port 0"), (["--max-sessions", "0"], "at least 1"),
                        (["--runs-dir", str(tmp_path / "file")], "is a file")):
        assert main(["serve", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("emotui: error:") and words in err and "\n" not in err
    assert not no_serving


def test_each_session_runs_this_emotui_on_the_store_read_only(tmp_path, no_serving, capsys):
    store = tmp_path / "a store with 'quotes'"
    command = app_command(str(store), read_only=True, projects={"trackio": "emo"})
    argv = shlex.split(command)
    assert argv[0] == "exec"  # the shell textual-serve starts becomes the app
    assert argv[2:] == ["-m", "emotui", "--runs-dir", str(store), "--trackio", "emo",
                        "--read-only"]
    assert main(["serve", "--runs-dir", str(store), "--read-only", "--wandb", "team/p"]) == 0
    [server] = no_serving
    assert shlex.split(server.command)[2:] == ["-m", "emotui", "--runs-dir", str(store),
                                               "--wandb", "team/p", "--read-only"]
    assert "(read-only)" in server.title
    assert main(["serve", "--runs-dir", str(store)]) == 0
    assert "--read-only" not in shlex.split(no_serving[1].command)


def test_loopback_names():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]",
                                        "app.localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.org", ""))


def serve_requests(server: EmotuiServer, requests: list[tuple[str, dict[str, str]]]) -> list:
    """(status, body) of each GET (path, headers) against the server's real aiohttp app."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run() -> list:
        client = TestClient(TestServer(await server._make_app()))
        await client.start_server()
        try:
            out = []
            for path, headers in requests:
                response = await client.get(path, headers=headers)
                out.append((response.status, await response.text()))
            return out
        finally:
            await client.close()

    return asyncio.run(run())


WEBSOCKET = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_the_server_answers_loopback_names_and_its_own_pages_only():
    server = EmotuiServer("true", host="127.0.0.1", port=8000, title="emotui · runs",
                          max_sessions=2)
    server.sessions = 2  # full: a websocket that passes the guards is told so, no app starts
    (page_status, page), (tunnel_status, tunnel_page), rebound, foreign, full = serve_requests(
        server, [("/", {"Host": "127.0.0.1:8000"}),
                 ("/", {"Host": "localhost:9000"}),  # ssh -L 9000:127.0.0.1:8000
                 ("/", {"Host": "evil.example:8000"}),  # DNS rebinding
                 ("/ws", {"Host": "localhost:9000", "Origin": "http://evil.example",
                          **WEBSOCKET}),
                 ("/ws", {"Host": "localhost:9000", "Origin": "http://localhost:9000",
                          **WEBSOCKET})])
    assert page_status == 200 and 'data-session-websocket-url="ws://127.0.0.1:8000/ws"' in page
    assert "<title>emotui · runs</title>" in page
    assert "googleapis" not in page and "https://" not in page  # nothing from outside
    assert tunnel_status == 200 and "ws://localhost:9000/ws" in tunnel_page
    assert "http://localhost:9000/static/js/textual.js" in tunnel_page
    assert rebound[0] == 403 and "localhost only" in rebound[1]
    assert foreign[0] == 403 and "another site" in foreign[1]
    assert full[0] == 503 and "--max-sessions" in full[1]


def test_a_run_has_its_own_address():
    server = EmotuiServer("python -m emotui --runs-dir R", host="127.0.0.1", port=8000,
                          title="emotui · runs")
    server.sessions = server.max_sessions
    page, bad, dots, full = serve_requests(server, [
        (f"/run/{RUNNING}", {"Host": "localhost:8000"}),
        ("/run/a;rm -rf x", {"Host": "localhost:8000"}),
        ("/run/.hidden", {"Host": "localhost:8000"}),
        (f"/ws/run/{RUNNING}", {"Host": "localhost:8000", "Origin": "http://localhost:8000",
                                **WEBSOCKET})])
    assert page[0] == 200 and f'data-session-websocket-url="ws://localhost:8000/ws/run/{RUNNING}"' \
        in page[1] and f"emotui · runs · {RUNNING}" in page[1]
    assert bad[0] == 404 and dots[0] == 404
    assert full[0] == 503  # past the guards: the same session rules
    assert server.command_for("st4c") == "python -m emotui --runs-dir R --open st4c"
    assert server.command_for(None) == server.command == "python -m emotui --runs-dir R"


def test_a_remote_bind_serves_any_host_name_but_still_checks_origins():
    server = EmotuiServer("true", host="0.0.0.0", port=8000, title="t")
    (status, page), foreign = serve_requests(server, [
        ("/", {"Host": "login-node.cluster:8000"}),
        ("/ws", {"Host": "login-node.cluster:8000", "Origin": "http://evil.example",
                 **WEBSOCKET})])
    assert status == 200 and "ws://login-node.cluster:8000/ws" in page
    assert foreign[0] == 403


# --- read-only is the app's -------------------------------------------------------------------

def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.anyio
async def test_a_read_only_app_refuses_every_launch_and_control_action(fixture_runs, tmp_path):
    assert isinstance(make_source(fixture_runs, read_only=True), ReadOnlyView)
    before = {rid: read_json(fixture_runs / rid / "status.json") for rid in (RUNNING, FINISHED)}
    source = ReadOnlyView(LocalRunSource(fixture_runs, ask_backends_every=None,
                                         clock=lambda: 1763900000.0))
    app = EmotuiApp(source, clock=lambda: 1763900000.0, export_dir=tmp_path / "exports",
                    poll_interval=0.2, store_label="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(RunTable) and app.screen.query_one(
            RunTable).row_count == len(RUNS) + len(SWEEP_RUNS) and not app.screen.scanning)
        table = app.screen.query_one(RunTable)
        for run_id, keys in ((RUNNING, ("x", "r", "e")), (FINISHED, ("d", "r", "n"))):
            table.move_cursor(row=table.get_row_index(run_id))
            await pilot.pause()
            for key in keys:
                app.clear_notifications()
                await pilot.press(key)
                # The refusal is a notice (on a busy machine, after a few frames).
                await wait_for(pilot, lambda: notices(app))
                await pilot.pause(0.2)
                assert not isinstance(app.screen, (ConfirmScreen, LaunchScreen)), key
                assert notices(app) == [REFUSAL], key
        table.move_cursor(row=table.get_row_index(RUNNING))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        for key in ("x", "r", "e"):
            app.clear_notifications()
            await pilot.press(key)
            await wait_for(pilot, lambda: notices(app))
            await pilot.pause(0.2)
            assert isinstance(app.screen, RunDetailScreen), key
            assert notices(app) == [REFUSAL], key
    after = {rid: read_json(fixture_runs / rid / "status.json") for rid in (RUNNING, FINISHED)}
    assert after == before  # nothing cancelled, resumed or deleted


@pytest.mark.anyio
async def test_the_app_opens_a_run_first(fixture_runs, tmp_path):
    for ref, opened in (("st4c", RUNNING), (RUNNING, RUNNING), ("nope", None)):
        source = LocalRunSource(fixture_runs, ask_backends_every=None,
                                clock=lambda: 1763900000.0)
        app = EmotuiApp(source, clock=lambda: 1763900000.0, export_dir=tmp_path,
                        poll_interval=0.2, store_label="runs", first_run=ref)
        async with app.run_test(size=(120, 30)) as pilot:
            if opened:
                await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
                assert app.screen.run_id == opened
            else:
                await wait_for(pilot, lambda: notices(app))
                assert notices(app) == [f"no run 'nope' in {fixture_runs}; 'emotui ls' lists "
                                        "the runs"]
                assert not isinstance(app.screen, RunDetailScreen)


def test_files_written_for_a_browser_session_are_delivered_to_it(tmp_path):
    """A report opens in a new tab, an export downloads; in a terminal nothing more happens."""
    from types import SimpleNamespace

    from emotui.tui.messages import ReportWritten
    from emotui.tui.outcomes import deliver, notify_report

    sent, told = [], []
    widget = SimpleNamespace(app=SimpleNamespace(
        is_web=True, deliver_binary=lambda path, open_method: sent.append((path, open_method))),
        notify=lambda *a, **k: told.append(a[0]))
    report, export = tmp_path / "report.html", tmp_path / "compare.csv"
    notify_report(widget, ReportWritten(report))
    deliver(widget, export)
    assert sent == [(report, "browser"), (export, "download")] and told == [str(report)]
    widget.app.is_web = False
    deliver(widget, export)
    assert len(sent) == 2
