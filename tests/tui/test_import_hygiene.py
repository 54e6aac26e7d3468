"""The TUI never loads torch/transformers/peft/datasets, trackio or textual-serve: not on import,
not while running (a trackio project shown included); and wandb only when a W&B project is
shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from fixture_store import FROZEN_NOW  # noqa: F401  (the fixture store module is importable)

# The training libraries, trackio (its database is read with sqlite3) and what only
# `emotui serve` needs (textual-serve, aiohttp).
HEAVY = ("torch", "transformers", "peft", "datasets", "trackio", "textual_serve", "aiohttp")


def test_tui_process_never_imports_training_libraries(tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        heavy = {HEAVY!r}
        import emotui.tui.app
        from emotui.cli.main import build_parser
        build_parser()
        assert not [m for m in heavy if m in sys.modules], "on import"
        from fixture_store import build_fixture_store
        from pathlib import Path
        build_fixture_store(Path({str(tmp_path / 'runs')!r}))
        from emotui.tui.app import EmotuiApp
        from emotui.tui.sources import LocalRunSource
        from emotui.tui.widgets.run_table import RunTable

        async def main():
            app = EmotuiApp(LocalRunSource({str(tmp_path / 'runs')!r}, ask_backends_every=1),
                            poll_interval=0.1, export_dir=Path({str(tmp_path)!r}))
            async with app.run_test(size=(100, 30)) as pilot:
                for _ in range(100):
                    await pilot.pause(0.05)
                    if app.screen.query_one(RunTable).row_count:
                        break
                await pilot.press("enter")        # detail: plots, logs
                await pilot.pause(0.5)
                await pilot.press("escape", "n")  # launch form
                await pilot.pause(0.5)
                await pilot.press("escape", "w")  # sweeps
                await pilot.pause(0.3)
        asyncio.run(main())
        loaded = [m for m in heavy if m in sys.modules]
        print("LOADED", loaded)
        # No W&B project configured: neither wandb nor emotui's W&B source was loaded.
        print("WANDB", [m for m in ("wandb", "emotui.tui.sources.wandb") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADED []" in out.stdout
    assert "WANDB []" in out.stdout


def test_tui_with_a_wandb_source_never_imports_training_libraries(tmp_path):
    """A W&B source configured without a key: one notice, the TUI goes on, still no torch.
    (wandb itself may load here, on the refresh thread: only when a W&B project is shown.)"""
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        for name in ("WANDB_API_KEY", "WANDB_BASE_URL"):
            os.environ.pop(name, None)
        os.environ.update(HOME={str(tmp_path)!r}, NETRC={str(tmp_path / 'netrc')!r},
                          EMOTUI_CACHE_DIR={str(tmp_path / 'cache')!r},
                          EMOTUI_CONFIG={str(tmp_path / 'none.yaml')!r})
        heavy = {HEAVY!r}
        from fixture_store import build_fixture_store
        from pathlib import Path
        build_fixture_store(Path({str(tmp_path / 'runs')!r}))
        from emotui.tui.app import EmotuiApp, make_source
        from emotui.tui.widgets.run_table import RunTable

        async def main():
            source = make_source(Path({str(tmp_path / 'runs')!r}), "team/study")
            assert "wandb" not in sys.modules  # not on building the source either
            app = EmotuiApp(source, poll_interval=0.1, export_dir=Path({str(tmp_path)!r}))
            async with app.run_test(size=(100, 30)) as pilot:
                for _ in range(200):
                    await pilot.pause(0.05)
                    if any("no W&B API key" in n.message for n in app._notifications):
                        break
                print("NOTICES", [n.message for n in app._notifications])
                await pilot.press("enter")
                await pilot.pause(0.3)
        asyncio.run(main())
        print("LOADED", [m for m in heavy if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no W&B API key" in out.stdout
    assert "LOADED []" in out.stdout


def test_tui_with_a_trackio_project_never_imports_trackio(tmp_path):
    """trackio's database is read with sqlite3: a project that is not there is one notice."""
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        os.environ.update(TRACKIO_DIR={str(tmp_path / 'trackio')!r},
                          EMOTUI_CONFIG={str(tmp_path / 'none.yaml')!r})
        heavy = {HEAVY!r}
        from fixture_store import build_fixture_store
        from pathlib import Path
        build_fixture_store(Path({str(tmp_path / 'runs')!r}))
        from emotui.tui.app import EmotuiApp, make_source

        async def main():
            source = make_source(Path({str(tmp_path / 'runs')!r}), projects={{"trackio": "emo"}})
            app = EmotuiApp(source, poll_interval=0.1, export_dir=Path({str(tmp_path)!r}))
            async with app.run_test(size=(100, 30)) as pilot:
                for _ in range(200):
                    await pilot.pause(0.05)
                    if any("no trackio project" in n.message for n in app._notifications):
                        break
                print("NOTICES", [n.message for n in app._notifications])
        asyncio.run(main())
        print("LOADED", [m for m in heavy if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no trackio project at" in out.stdout
    assert "LOADED []" in out.stdout
