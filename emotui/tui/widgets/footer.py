"""The key footer every screen shows, fitted to the terminal's width."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer

# Below this width the keys fill the footer and Textual's "^p Commands" hint, docked at the
# right edge, would cover the last of them mid-word; ctrl+p still opens the palette.
PALETTE_HINT_FROM = 100


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        # Decided while composing (not after the first resize), so the first frame is right.
        self.set_reactive(Footer.show_command_palette, self._hint_fits(self.app.size.width))
        yield from super().compose()

    def on_resize(self, event: events.Resize) -> None:
        if self._hint_fits(event.size.width) != self.show_command_palette:
            self.refresh(recompose=True)

    @staticmethod
    def _hint_fits(width: int) -> bool:
        return width >= PALETTE_HINT_FROM
