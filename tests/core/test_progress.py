"""core.progress: the live elapsed time and ETA readers show between the job's refreshes."""

from __future__ import annotations

import pytest

from emotui.core.progress import ETA_FLOOR_S, format_duration, live_elapsed, live_eta

MEASURED = 1_000.0


def running(**fields):
    return {"state": "running", "position_time": MEASURED, **fields}


def test_a_running_runs_eta_counts_down_and_elapsed_counts_up():
    status = running(eta_s=100.0, elapsed_s=50.0)
    assert live_eta(status, MEASURED) == 100.0
    assert live_eta(status, MEASURED + 30) == 70.0
    # Never below zero, nor 0 while the job says work remains: it waits at the floor.
    assert live_eta(status, MEASURED + 500) == ETA_FLOOR_S
    assert live_elapsed(status, MEASURED) == 50.0
    assert live_elapsed(status, MEASURED + 30) == 80.0


def test_a_clock_behind_the_measurement_does_not_move_either_backwards():
    status = running(eta_s=100.0, elapsed_s=50.0)
    assert live_eta(status, MEASURED - 5) == 100.0
    assert live_elapsed(status, MEASURED - 5) == 50.0


@pytest.mark.parametrize("state", ["queued", "completed", "failed", "cancelled", "preempted"])
def test_only_a_running_run_has_an_eta_and_a_stopped_one_keeps_its_elapsed(state):
    status = {"state": state, "position_time": MEASURED, "eta_s": 100.0, "elapsed_s": 50.0}
    assert live_eta(status, MEASURED + 30) is None
    assert live_elapsed(status, MEASURED + 30) == 50.0


def test_without_an_estimate_or_measurement():
    assert live_eta(running(eta_s=None), MEASURED) is None
    assert live_eta({}, MEASURED) is None and live_elapsed({}, MEASURED) is None
    # No position yet: elapsed from the start time (running) or start to end (stopped).
    assert live_elapsed({"state": "running", "started": 900.0}, MEASURED) == 100.0
    assert live_elapsed({"state": "failed", "started": 900.0, "ended": 960.0}, MEASURED) == 60.0
    assert live_elapsed({"state": "queued", "started": 900.0}, MEASURED) is None
    # Junk from a hand-edited or newer status.json is no number.
    assert live_eta(running(eta_s="soon"), MEASURED) is None
    assert live_elapsed(running(elapsed_s=True), MEASURED) is None


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (0.4, "0s"), (42, "42s"), (59.6, "1m00s"), (60, "1m00s"), (252, "4m12s"),
    (3599, "59m59s"), (3600, "1h00m"), (3900, "1h05m"), (86399, "23h59m"),
    (86400, "1d00h"), (183600, "2d03h"), (-3, "0s"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_duration_of_nothing():
    assert format_duration(None) == "-"
    assert format_duration(None, missing="") == ""
