"""A yes/no modal (delete, cancel, dropping the form's edits) and how it names runs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def named_runs(run_ids: list[str], shown: int = 6) -> tuple[str, str]:
    """(subject, listing) naming the runs a question is about: one run by its id (no listing);
    several as "these N runs" and a listing of their ids, the first ``shown`` and how many more."""
    if len(run_ids) == 1:
        return run_ids[0], ""
    lines = [f"• {rid}" for rid in run_ids[:shown]]
    if len(run_ids) > shown:
        lines.append(f"… and {len(run_ids) - shown} more")
    return f"these {len(run_ids)} runs", "\n\n" + "\n".join(lines)


class ConfirmScreen(ModalScreen[bool]):
    """Asks a question; dismisses with True (y / the confirm button) or False (n / escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, confirm_label: str = "Delete"):
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="confirm-yes")
                yield Button("No (n)", id="confirm-no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
