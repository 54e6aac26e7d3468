"""The footer keeps whole key labels: on a narrow terminal the ^p hint makes room for them."""

from __future__ import annotations

import pytest
from tui_helpers import wait_for

from emotui.tui.widgets.footer import PALETTE_HINT_FROM, KeysFooter

pytestmark = pytest.mark.anyio


def footer_text(app) -> str:
    footer = app.screen.query_one(KeysFooter)
    return " ".join(str(key.render()) for key in footer.children)


@pytest.mark.parametrize("width", [80, 160])
async def test_palette_hint_only_where_it_fits(width, fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(KeysFooter)
                       and "New run" in footer_text(app))
        footer = app.screen.query_one(KeysFooter)
        assert footer.show_command_palette == (width >= PALETTE_HINT_FROM)
        assert ("Commands" in footer_text(app)) == (width >= PALETTE_HINT_FROM)
        # Growing the terminal brings the hint back; shrinking takes it away again.
        await pilot.resize_terminal(240 - width, 30)
        await wait_for(pilot, lambda: footer.show_command_palette == (240 - width >= 100))
        await wait_for(pilot, lambda: ("Commands" in footer_text(app)) == (240 - width >= 100))
