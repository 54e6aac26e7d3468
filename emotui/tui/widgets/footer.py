"""The key footer every screen shows, fitted to the terminal's width."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

# Below this width the keys fill the footer and Textual's "^p Commands" hint, docked at the
# right edge, would cover the last of them mid-word; ctrl+p still opens the palette.
PALETTE_HINT_FROM = 100


class KeysFooter(Footer):
    def on_resize(self, event: events.Resize) -> None:
        hint = event.size.width >= PALETTE_HINT_FROM
        if hint != self.show_command_palette:
            self.show_command_palette = hint
            self.refresh(recompose=True)
