"""The key footer every screen shows, fitted to the terminal's width."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel

# Below this width the keys fill the footer and Textual's "^p Commands" hint, docked at the
# right edge, would cover the last of them mid-word; ctrl+p still opens the palette.
PALETTE_HINT_FROM = 100
# What stands for the keys that do not fit: the palette lists every one of them.
MORE_KEY, MORE_TEXT = "^p", "more"
MORE_WIDTH = cell_len(MORE_KEY) + cell_len(MORE_TEXT) + 3
HINT_WIDTH = cell_len("^p Commands") + 4  # Textual's hint and the bar before it


def key_width(widget: FooterKey) -> int:
    """The cells a key takes: its key and description, padded as FooterKey draws them."""
    if widget.has_class("-grouped"):
        return cell_len(widget.key_display) + 1
    return cell_len(widget.key_display) + cell_len(widget.description) + 3


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        # Decided while composing (not after the first resize), so the first frame is right.
        width = self.app.size.width
        hint = self._hint_fits(width)
        self.set_reactive(Footer.show_command_palette, hint)
        # The keys in the screen's order (its most used first) while they fit, never one cut
        # mid-word; the rest behind "^p more", or the "^p Commands" hint where it shows (the
        # palette names every key of the screen).
        budget, used, skipped = width - (HINT_WIDTH if hint else MORE_WIDTH), 0, False
        for widget in super().compose():
            if isinstance(widget, (FooterKey, FooterLabel)) and width:
                need = key_width(widget) if isinstance(widget, FooterKey) \
                    else cell_len(str(widget.content)) + 1
                if widget.has_class("-command-palette"):
                    need = 0  # docked at the right edge, in the room kept for it
                if need and (skipped or used + need > budget):
                    skipped = True
                    continue
                used += need
            yield widget
        if skipped and not hint:
            yield FooterKey("ctrl+p", MORE_KEY, MORE_TEXT, "app.command_palette",
                            tooltip="every key of this screen").data_bind(
                                compact=Footer.compact)

    def on_resize(self, event: events.Resize) -> None:
        # Each width fits its own keys.
        self.refresh(recompose=True)

    @staticmethod
    def _hint_fits(width: int) -> bool:
        return width >= PALETTE_HINT_FROM
