"""The run lifecycle: creating a run, clean-up after bad input, every transition, failure reasons,
the named state sets."""

from __future__ import annotations

import ast
import errno
import itertools
from pathlib import Path

import pytest

import emotui
from emotui.core import lifecycle
from emotui.core.config import RunConfig, build_config, config_from_yaml
from emotui.core.errors import ConfigError, DataError, EmotuiError
from emotui.core.failure_reasons import failure_reason, interrupted_reason
from emotui.core.lifecycle import (
    ACTIVE,
    CANCELLABLE,
    FINISHED,
    IN_FLIGHT,
    RESUMABLE,
    STATE_NAMES,
    ForbiddenTransition,
    RunState,
    create_run,
    deletable,
    end_run,
    kept_unless_resumed,
    mark_cancelled,
    mark_completed,
    mark_preempted,
    mark_running,
    may_follow,
    never_started,
    record_end,
    record_failure,
    reopen_for_resume,
    requeue,
    set_state,
    starting_run,
    state_of,
)
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status, write_status

Q, R, C, F, X, P = (RunState.QUEUED, RunState.RUNNING, RunState.COMPLETED, RunState.FAILED,
                    RunState.CANCELLED, RunState.PREEMPTED)

# The state machine, spelled out pair by pair: everything not listed here is allowed.
FORBIDDEN = {
    (C, Q), (C, F), (C, X), (C, P),  # completed stays completed (only training on in place)
    (F, X), (F, P),  # an ending does not turn into another ending: resume first
    (X, F), (X, P),
}
PAIRS = list(itertools.product(RunState, RunState))


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def a_run(store: RunStore, state: RunState | None = None) -> RunPaths:
    paths = create_run(store, RunConfig(), backend="local")
    if state is not None:
        write_status(paths, state=state)  # the raw writer: any starting point
    return paths


# -- creating a run ------------------------------------------------------------------------------


def test_create_run_writes_config_and_a_queued_status(store):
    config, _ = build_config([("test", {"peft_method": "lora", "learning_rate": 2e-4})])
    paths = create_run(store, config, backend="slurm", sweep_id="sw1", sweep_trial=3,
                       wandb_settings={"project": "p"})
    assert store.run_ids() == [paths.run_id]
    assert "-lora-" in paths.run_id
    assert config_from_yaml(paths.config).learning_rate == 2e-4
    status = read_status(paths)
    assert status["run_id"] == paths.run_id
    assert status["state"] == "queued" and status["reason"] is None
    assert status["backend"] == "slurm" and status["method"] == "lora"
    assert status["sweep_id"] == "sw1" and status["sweep_trial"] == 3
    assert status["wandb_settings"] == {"project": "p"}
    assert isinstance(status["created"], float)


def test_a_half_created_run_never_lists(store, monkeypatch):
    seen = []
    real = lifecycle._write

    def spy(paths, state, fields, **options):
        seen.append((paths.config.exists(), store.run_ids()))  # just before status.json
        return real(paths, state, fields, **options)

    monkeypatch.setattr(lifecycle, "_write", spy)
    paths = create_run(store, RunConfig(), backend="local")
    assert seen == [(True, [])]
    assert store.run_ids() == [paths.run_id]


def test_create_run_that_fails_leaves_nothing(store, monkeypatch):
    def broken(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(lifecycle, "atomic_write_text", broken)
    with pytest.raises(OSError):
        create_run(store, RunConfig(), backend="local")
    assert list(store.root.iterdir()) == []


def test_create_run_refuses_an_existing_id_unless_reused(store):
    rid = "261127-080000-full-abcd"
    first = create_run(store, RunConfig(), backend="local", run_id=rid)
    write_status(first, job_id="7")
    with pytest.raises(ConfigError, match="already exists"):
        create_run(store, RunConfig(), backend="local", run_id=rid)
    assert first.root.is_dir()
    again = create_run(store, RunConfig(), backend="inline", run_id=rid, reuse=True,
                       sweep_id="s", sweep_trial=0)
    assert again == first
    assert read_status(again)["backend"] == "inline" and read_status(again)["sweep_id"] == "s"
    # A directory left half-made (no status.json yet) is prepared again too.
    half = store.root / "261127-080000-full-wxyz"
    half.mkdir()
    reused = create_run(store, RunConfig(), backend="local", run_id=half.name, reuse=True)
    assert read_status(reused)["state"] == "queued"


def test_reusing_a_started_run_is_refused_and_kept(store):
    paths = a_run(store, C)
    with pytest.raises(ForbiddenTransition, match="is completed and cannot become queued"):
        create_run(store, RunConfig(), backend="local", run_id=paths.run_id, reuse=True)
    assert read_status(paths)["state"] == "completed"


def test_starting_run_removes_the_run_when_the_block_fails(store):
    with pytest.raises(RuntimeError, match="sbatch refused"):
        with starting_run(store, RunConfig(), backend="slurm") as paths:
            assert store.run_ids() == [paths.run_id]
            raise RuntimeError("sbatch refused")
    assert not paths.root.exists() and store.run_ids() == []
    with pytest.raises(KeyboardInterrupt):
        with starting_run(store, RunConfig(), backend="local") as paths:
            raise KeyboardInterrupt
    assert list(store.root.iterdir()) == []
    with starting_run(store, RunConfig(), backend="local") as paths:
        pass
    assert store.run_ids() == [paths.run_id]


def test_never_started_is_bad_input_before_the_first_step(store):
    paths = a_run(store)
    assert never_started(paths, DataError("no such file"), resume=False)
    assert never_started(paths, ConfigError("bad"), resume=False)
    assert not never_started(paths, None, resume=False)
    assert not never_started(paths, RuntimeError("boom"), resume=False)
    assert not never_started(paths, DataError("x"), resume=True)  # a resumed run has a past
    write_status(paths, state="failed")  # what train() records before the error propagates
    assert never_started(paths, DataError("x"), resume=False)
    paths.metrics.write_text('{"step": 1}\n')  # it trained: keep the record
    assert not never_started(paths, DataError("x"), resume=False)
    assert not never_started(a_run(store, C), DataError("x"), resume=False)


# -- transitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("current,new", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition_is_allowed_or_forbidden_as_written(store, current, new):
    allowed = (current, new) not in FORBIDDEN
    assert may_follow(current, new) is allowed
    assert may_follow(current.value, new.value) is allowed
    paths = a_run(store, current)
    if allowed:
        assert set_state(paths, new, reason="why")["state"] == new.value
    else:
        with pytest.raises(ForbiddenTransition, match=f"is {current} and cannot become {new}"):
            set_state(paths, new, reason="why")
        assert read_status(paths)["state"] == current.value


@pytest.mark.parametrize("new", list(RunState))
def test_no_state_yet_or_an_unknown_one_allows_any(store, new):
    assert may_follow(None, new) and may_follow("from-a-newer-emotui", new)
    paths = RunPaths(store.root / "bare")
    paths.root.mkdir(parents=True)
    assert set_state(paths, new)["state"] == new.value


@pytest.mark.parametrize("current,new", sorted(FORBIDDEN), ids=[f"{a}->{b}" for a, b in
                                                                 sorted(FORBIDDEN)])
def test_a_forbidden_ending_leaves_the_record_as_it_is(store, current, new):
    paths = a_run(store, current)
    write_status(paths, reason="the first word", ended=1.0)
    if new in FINISHED or new == P:
        kept = end_run(paths, new, "a late word", early_stopped=True)
        assert kept["state"] == current.value and kept["reason"] == "the first word"
        assert "early_stopped" not in read_status(paths)


def test_endings_that_race_resolve_as_the_table_says(store):
    # A cancel recorded by `emotui cancel`, then the job reports the checkpointed stop.
    paths = a_run(store, R)
    mark_cancelled(paths, "cancelled by user")
    assert mark_preempted(paths, "preempted at step 9")["state"] == "cancelled"
    # A reader gave the job up as lost; it finished after all: its results stand.
    paths = a_run(store, R)
    record_end(paths, F, "lost: no heartbeat for 70 s")
    assert mark_completed(paths, progress=1.0)["state"] == "completed"
    # A late cancel does not undo a completed run.
    assert record_end(paths, X, "cancelled by user")["state"] == "completed"


def test_mark_running_starts_an_attempt(store):
    paths = a_run(store)
    first = mark_running(paths)
    assert first["state"] == "running" and first["starts"] == 1 and first["pid"]
    assert first["host"] and first["ended"] is None and first["reason"] is None
    mark_preempted(paths, "preempted at step 3")
    second = mark_running(paths, device="cpu")
    assert second["starts"] == 2 and second["started"] == first["started"]
    assert second["device"] == "cpu"
    mark_completed(paths)
    assert mark_running(paths)["state"] == "running"  # train(resume=True) goes on in place


def test_completed_cancelled_preempted_endings(store):
    paths = a_run(store, R)
    status = mark_completed(paths, "collapsed: accuracy at the majority rate", eta_s=0)
    assert status["state"] == "completed" and status["reason"].startswith("collapsed")
    assert status["ended"] and status["eta_s"] == 0
    paths = a_run(store, R)
    status = mark_preempted(paths, "preempted at step 4")
    assert status["state"] == "preempted" and status.get("ended") is None
    status = mark_cancelled(paths, "hyperband: below the median", early_stopped=True)
    assert status["state"] == "cancelled" and status["early_stopped"] and status["ended"]


def test_record_end_keeps_an_end_time_already_recorded(store):
    paths = a_run(store, R)
    write_status(paths, ended=123.0)
    assert record_end(paths, F, "exit code 1", exit_code="1:0")["ended"] == 123.0
    paths = a_run(store, R)
    status = record_end(paths, P, "stopped by SIGTERM")
    assert status["state"] == "preempted" and status["ended"]


def test_requeue_and_resume(store):
    paths = a_run(store, R)
    assert requeue(paths, "requeued, pending: Priority")["state"] == "queued"
    for state in RESUMABLE:
        paths = a_run(store, state)
        write_status(paths, ended=5.0)
        status = reopen_for_resume(paths)
        assert status["state"] == "queued" and status["reason"] == "resuming"
        assert status["ended"] is None and status["resumed_from"] == state.value
    for state, hint in ((Q, "it is still active; cancel it first"), (R, "it is still active"),
                        (C, "only failed, cancelled or preempted runs can be resumed")):
        paths = a_run(store, state)
        with pytest.raises(EmotuiError, match=f"is {state}: {hint}"):
            reopen_for_resume(paths)


def test_a_resume_that_fails_to_submit_keeps_the_state_it_had(store):
    paths = a_run(store, F)
    write_status(paths, reason="OOM", backend="slurm", ended=9.0)
    before = read_status(paths)
    reopen_for_resume(paths)
    with pytest.raises(RuntimeError):
        with kept_unless_resumed(paths, before):
            write_status(paths, backend="local")
            raise RuntimeError("could not start")
    after = read_status(paths)
    assert (after["state"], after["reason"], after["backend"], after["ended"]) == \
        ("failed", "OOM", "slurm", 9.0)


def test_record_failure_keeps_a_reason_recorded_nearer_the_error(store):
    paths = a_run(store, R)
    status = record_failure(paths, RuntimeError("boom\nline two"))
    assert status["state"] == "failed" and status["reason"] == "RuntimeError: line two"
    assert status["ended"]
    assert record_failure(paths, ValueError("later"))["reason"] == "RuntimeError: line two"
    for state in (X, P):
        paths = a_run(store, state)
        write_status(paths, reason="first")
        assert record_failure(paths, ValueError("x"))["reason"] == "first"
    assert record_failure(a_run(store, Q), DataError("no data"))["reason"] == "no data"


# -- failure reasons -----------------------------------------------------------------------------


class OutOfMemoryError(RuntimeError):
    """Named like torch's (torch.OutOfMemoryError): core recognises it without importing torch."""


@pytest.mark.parametrize("error,run_id,reason", [
    (ConfigError("learning_rate must be > 0 (from --learning_rate)"), None,
     "learning_rate must be > 0 (from --learning_rate)"),
    (DataError("train_file x.jsonl does not exist"), "r1", "train_file x.jsonl does not exist"),
    # The generic form: the type and the last line (tests elsewhere assert this exact text).
    (RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"), None,
     "RuntimeError: Tried to allocate 2 GiB"),
    (ValueError(""), None, "ValueError"),
    (KeyError("label"), None, "KeyError: 'label'"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "x.jsonl"), None,
     "FileNotFoundError: [Errno 2] No such file or directory: 'x.jsonl'"),
    (OSError(errno.ENOSPC, "No space left on device", "/runs/r1/checkpoints/last"), "r1",
     "out of disk space (No space left on device writing /runs/r1/checkpoints/last); free "
     "some space, then resume with: emotui run --resume r1"),
    (OSError(errno.ENOSPC, "No space left on device"), None,
     "out of disk space (No space left on device); free some space, then resume with: "
     "emotui run --resume RUN"),
    (MemoryError(), None, "out of host memory (MemoryError); ask for more memory or lower "
     "--per_device_train_batch_size or --max_seq_length"),
    (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                      "capacity of 79.10 GiB of which 1.2 GiB is free."), None,
     "out of GPU memory (OutOfMemoryError: Tried to allocate 2.00 GiB); lower "
     "--per_device_train_batch_size or --max_seq_length"),
    (RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)."), None,
     "out of GPU memory (RuntimeError); lower --per_device_train_batch_size or "
     "--max_seq_length"),
    (KeyboardInterrupt(), None, "interrupted"),
    (KeyboardInterrupt(), "r1", "interrupted; resume with: emotui run --resume r1"),
])
def test_failure_reason(error, run_id, reason):
    assert failure_reason(error, run_id) == reason
    assert "\n" not in failure_reason(error, run_id)


def test_interrupted_reason_says_how_and_how_to_go_on():
    assert interrupted_reason("Ctrl-C", "r1") == \
        "interrupted (Ctrl-C); resume with: emotui run --resume r1"
    assert interrupted_reason("SIGTERM") == "interrupted (SIGTERM)"


# -- the named state sets ------------------------------------------------------------------------


def test_state_sets_take_enums_and_strings():
    assert "running" in ACTIVE and RunState.RUNNING in ACTIVE
    assert None not in ACTIVE and "lost" not in FINISHED and 3 not in FINISHED
    assert set(ACTIVE) | set(FINISHED) == set(RunState) and not set(ACTIVE) & set(FINISHED)
    assert FINISHED.names == ("completed", "failed", "cancelled")
    assert ACTIVE.names == ("queued", "running", "preempted")
    assert IN_FLIGHT.names == ("queued", "running")
    assert RESUMABLE.names == ("failed", "cancelled", "preempted")
    assert CANCELLABLE == ACTIVE
    assert STATE_NAMES == ("queued", "running", "completed", "failed", "cancelled", "preempted")
    assert [deletable(s) for s in STATE_NAMES] == [False, False, True, True, True, False]
    assert deletable(None) and deletable("from-a-newer-emotui")
    assert state_of({"state": "failed"}) is F and state_of({}) is None
    assert state_of({"state": "weird"}) is None and f"{R}" == "running"


def test_only_the_lifecycle_writes_a_state():
    """status.json's state changes go through core.lifecycle (checked), never write_status."""
    root = Path(emotui.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "core" / "lifecycle.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "write_status" \
                    and any(k.arg == "state" for k in node.keywords):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
