"""The home screen's actions on the chosen runs: cancel, resume and delete (x, r, d).

Each is checked first against what the source allows (its capabilities: a read-only view, a
tracker's rows) and against the runs' states; cancel and delete ask, naming the runs; then a
thread worker acts on each run in turn (cancel may wait for a job) and posts one RunControlled
message per run, which the screen turns into a notice. ``RunActions`` is mixed into
``RunsScreen``, which gives it ``source``, ``all_rows``, its RunTable and ``_selection_used``.
"""

from __future__ import annotations

from typing import Callable

from textual import work

from emotui.core.lifecycle import CANCELLABLE, deletable
from emotui.core.results import shown_state
from emotui.core.runstore import RunStore
from emotui.tui import control
from emotui.tui import formatting as fmt
from emotui.tui.outcomes import control_outcome
from emotui.tui.screens.confirm import ConfirmScreen, named_runs
from emotui.tui.widgets.run_table import RunTable
from emotui.tui.worker_errors import WorkerErrors


class RunActions(WorkerErrors):
    """Cancel, resume and delete for the runs screen (see the module's docstring)."""

    def _controllable(self, allowed: bool) -> bool:
        """Whether every chosen run can be acted on: the source allows the action (``allowed``,
        one of its capabilities) and each run is one of its controllable runs (not a W&B row)."""
        if not allowed:
            self.notify(self.source.capabilities.refusal
                        or "Runs of this source cannot be controlled from here.",
                        severity="warning")
            return False
        read_only = [rid for rid in self.query_one(RunTable).chosen()
                     if not self.source.is_controllable(rid)]
        if read_only:
            shown = read_only[0] if len(read_only) == 1 else f"{len(read_only)} of the chosen runs"
            self.notify(f"{shown}: a W&B or trackio run without a local run directory is read-only "
                        "here "
                        "(cancel, resume and delete act on local runs).", severity="warning")
            return False
        return True

    @work(thread=True, name="cancel-runs", group="control", exit_on_error=False)
    def cancel_runs(self, store: RunStore, run_ids: list[str]) -> None:
        self._control_each("Cancel", lambda rid: control.cancel(store.paths(rid)), run_ids)

    @work(thread=True, name="resume-runs", group="control", exit_on_error=False)
    def resume_runs(self, store: RunStore, run_ids: list[str]) -> None:
        self._control_each("Resume", lambda rid: control.resume(store.paths(rid)), run_ids)

    @work(thread=True, name="delete-runs", group="control", exit_on_error=False)
    def delete_runs(self, store: RunStore, run_ids: list[str]) -> None:
        self._control_each("Deleted", lambda rid: control.delete(store, rid), run_ids)

    def _control_each(self, verb: str, act: Callable[[str], str | None],
                      run_ids: list[str]) -> None:
        """Act on each run in turn (on the worker's thread); one RunControlled message each."""
        for rid in run_ids:
            self.post_message(control_outcome(verb, rid, lambda: act(rid)))

    def _state(self, run_id: str) -> str | None:
        return self.all_rows.get(run_id, {}).get("status")

    def action_cancel_run(self) -> None:
        """Cancel asks first, naming the runs: one stray key must not stop hours of training.
        A run that is not working (or already stopping) has nothing to cancel: no question."""
        if not self._controllable(self.source.capabilities.can_cancel):
            return
        chosen = self.query_one(RunTable).chosen()
        if not chosen:
            return
        # What lives is cancelled, whatever the record says: a run recorded as ended whose
        # process still runs (still_stopping) is stopped too (launch.runs.cancel).
        working = [rid for rid in chosen
                   if (self._state(rid) in CANCELLABLE
                       and not fmt.stopping(self.all_rows.get(rid, {})))
                   or self.all_rows.get(rid, {}).get("still_stopping")]
        if not working:
            rid = chosen[0]
            state = "stopping" if fmt.stopping(self.all_rows.get(rid, {})) else self._state(rid)
            what = f"{rid} is {state}" if len(chosen) == 1 else \
                f"none of the {len(chosen)} selected runs is queued or running"
            self.notify(f"{what}; nothing to cancel.", title="Cancel")
            return
        subject, listing = named_runs(working)
        skipped = [rid for rid in chosen if rid not in working]
        note = ""
        if len(skipped) == 1:
            note = f" Not queued or running, left as it is: {skipped[0]}."
        elif skipped:
            note = f" {len(skipped)} selected runs are not queued or running: left as they are."

        def answered(yes: bool | None) -> None:
            if yes:
                self._selection_used()
                self.cancel_runs(self.source.store, working)

        self.app.push_screen(ConfirmScreen(
            f"Cancel {subject}? A running job is stopped (its last checkpoint stays; r resumes "
            f"it).{note}{listing}", "Cancel run"), answered)

    def action_resume_run(self) -> None:
        if not self._controllable(self.source.capabilities.can_resume):
            return
        chosen = self.query_one(RunTable).chosen()
        stopping = [rid for rid in chosen if fmt.stopping(self.all_rows.get(rid, {}))]
        if stopping:
            self.notify(f"{stopping[0]} is still stopping; resume it once it has stopped.",
                        title="Resume", severity="warning")
            return
        if chosen:
            self._selection_used()
            self.resume_runs(self.source.store, chosen)

    def action_delete_run(self) -> None:
        if not self._controllable(self.source.capabilities.can_delete):
            return
        chosen = self.query_one(RunTable).chosen()
        if not chosen:
            return
        busy = [r for r in chosen if not deletable(self.all_rows.get(r, {}).get("status"))
                or self.all_rows.get(r, {}).get("still_stopping")]
        if busy:
            self.notify(f"{busy[0]} is {shown_state(self.all_rows[busy[0]])}; cancel it first.",
                        title="Not deleted", severity="error")
            return
        subject, listing = named_runs(chosen)
        files = "its files" if len(chosen) == 1 else "their files"
        question = f"Delete {subject} and all {files} (checkpoints, logs, metrics)?{listing}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._selection_used()
                self.delete_runs(self.source.store, chosen)

        self.app.push_screen(ConfirmScreen(question), answered)
