"""The backend registry is the one list of backends: CLI choices, the TUI's picker, the sweep
layer and the error for an unknown name all follow it; a backend is one class + one entry.

No test names the list of backends: each derives it from the registry, so adding one breaks
none (test_every_backend.py checks what each registered backend must be)."""

from __future__ import annotations

import argparse
import json

import pytest

from emotui.cli.main import build_parser, main
from emotui.core.errors import ConfigError, or_list
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status, write_status
from emotui.launch import backend_names, backend_spec, get_backend, registry
from emotui.launch.base import Backend, BackendSpec

SUBMITTED: list[tuple[str, bool]] = []


class RecordingBackend(Backend):
    """A whole backend for the test: submit records the run and queues it."""

    name = "recording"

    def submit(self, paths: RunPaths, *, resume: bool = False, resources=None) -> dict:
        SUBMITTED.append((paths.run_id, resume))
        return write_status(paths, state="queued", reason="submitted", backend=self.name,
                            job_id="rec-1")

    def refresh(self, runs):
        return {paths.run_id: status for paths, status in runs}

    def cancel(self, runs):
        for paths, _status in runs:
            write_status(paths, state="cancelled", reason="cancelled by user")


@pytest.fixture
def recording_backend(monkeypatch):
    """One registry entry is all it takes to add a backend."""
    spec = BackendSpec("recording", label="test double", help="records what it is given",
                       factory=f"{__name__}:RecordingBackend", detached=True,
                       this_machine=False)  # it loads nothing: no Hub to reach
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    SUBMITTED.clear()
    return spec


def _backend_choices(parser: argparse.ArgumentParser, command: str) -> tuple[str, ...]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flag = next(a for a in sub.choices[command]._actions if "--backend" in a.option_strings)
    return tuple(flag.choices)


def test_registry_drives_every_backend_choice(recording_backend):
    parser = build_parser()
    names = tuple(registry.REGISTRY)
    assert backend_names() == names and names[-1] == "recording"  # registry order, new one last
    assert _backend_choices(parser, "run") == names
    assert _backend_choices(parser, "sweep") == names
    # The TUI's picker: only backends a run may outlive the TUI on.
    assert backend_names(tui=True) == tuple(n for n in names if registry.REGISTRY[n].tui)
    assert "recording" in backend_names(tui=True) and "inline" not in backend_names(tui=True)
    assert backend_names(resources=True) == tuple(
        n for n in names if registry.REGISTRY[n].resources is not None)
    assert "slurm" in backend_names(resources=True)
    assert "recording" not in backend_names(resources=True)


# "zzz" resembles no backend name (a name close to one gets "did you mean"), "slurn" does.
@pytest.mark.parametrize("name,hint", [("zzz", ""), ("slurn", "; did you mean 'slurm'?")])
def test_unknown_backend_is_one_line_listing_the_registered_ones(name, hint):
    with pytest.raises(ConfigError) as info:
        get_backend(name)
    assert str(info.value) == (f"unknown backend '{name}'; choose one of: "
                               f"{', '.join(backend_names())}{hint}")


def test_unknown_backend_on_the_command_line_or_in_a_config_file(runs_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["run", "--backend", "zzz"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("emotui: error: --backend: unknown choice 'zzz'; choose "
                                       f"one of: {', '.join(backend_names())}\n")
    config = tmp_path / "exp.yaml"
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"text": "hi", "label": 0}) + "\n")
    config.write_text(f"train_file: {train}\nbackend: zzz\n")
    assert main(["run", "--runs-dir", str(runs_dir), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"must be one of: {', '.join(backend_names())}; got 'zzz'" in err


def test_a_registered_backend_runs_and_resumes_through_the_cli(recording_backend, runs_dir,
                                                               tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    # Two labels: a single-class training set is refused before the run exists.
    train.write_text("".join(json.dumps({"text": text, "label": label}) + "\n"
                             for text, label in (("hi", 0), ("bye", 1))))
    code = main(["run", "--runs-dir", str(runs_dir), "--train_file", str(train), "--do_eval",
                 "false", "--do_predict", "false", "--backend", "recording", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["backend"] == "recording" and out["job_id"] == "rec-1"
    paths = RunStore(runs_dir).find(out["run_id"])
    assert SUBMITTED == [(paths.run_id, False)]
    write_status(paths, state="failed", reason="test")
    assert main(["run", "--runs-dir", str(runs_dir), "--resume", paths.run_id, "--json"]) == 0
    assert SUBMITTED[-1] == (paths.run_id, True)
    assert read_status(paths)["backend"] == "recording"


def test_slurm_flags_name_the_backends_that_take_them(recording_backend, runs_dir, capsys):
    assert main(["run", "--runs-dir", str(runs_dir), "--backend", "recording",
                 "--partition", "gpu"]) == 2
    takers = or_list(backend_names(resources=True))
    assert f"--partition applies to --backend {takers}, but this run is recording" in \
        capsys.readouterr().err


def test_the_sweep_layer_reads_capabilities_from_the_spec(recording_backend):
    from emotui.sweep.launching import make_launcher

    launcher = make_launcher("recording", max_parallel=3)
    assert (launcher.blocking, launcher.max_parallel, launcher.arrays) == (False, 3, False)
    assert launcher.poll_interval == recording_backend.poll_interval_s
    inline = make_launcher("inline", max_parallel=3)
    assert inline.blocking and inline.max_parallel == 1
    slurm = backend_spec("slurm")
    assert slurm.arrays and slurm.requeues and slurm.resources is not None
