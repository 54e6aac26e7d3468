"""What every registered backend must be, checked for each one the registry lists: adding a
backend to emotui.launch.registry adds it to every test here, and no test names the list.

- its spec creates it lazily, and what the spec declares matches its interface;
- a process backend (launch.process) starts the job entry point for the run's attempt, in a
  session of its own, writing into the run's logs; its cancel stops a live process;
- the resources a backend takes plug into the CLI's flags, the config files' sections and the
  sweep without naming it; a backend that takes none refuses their flags in one line;
- the README's table of backends has its row.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emotui.cli.main import build_parser, main
from emotui.core.config_files import SECTIONS
from emotui.core.errors import BackendError, ConfigError, or_list
from emotui.core.processes import process_alive, process_identity
from emotui.core.runstore import RunStore
from emotui.core.status import read_status, write_status
from emotui.launch import backend_names, backend_spec, get_backend
from emotui.launch.base import Backend
from emotui.launch.process import ProcessBackend
from emotui.launch.registry import backends_taking, resource_settings

NAMES = backend_names()
PROCESS = tuple(n for n in NAMES if issubclass(type(get_backend(n)), ProcessBackend))
DETACHED_PROCESS = tuple(n for n in PROCESS if backend_spec(n).detached)
TAKING_RESOURCES = backend_names(resources=True)
TAKING_NONE = tuple(n for n in NAMES if n not in TAKING_RESOURCES)
README = Path(__file__).resolve().parents[2] / "README.md"
README_TABLE = "| backend | what runs where |"


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_creates_the_backend_it_names(name):
    spec = backend_spec(name)
    backend = spec.create()
    assert isinstance(backend, Backend) and backend.name == name
    assert spec.label and spec.help and spec.title == f"{name} ({spec.label})"
    assert spec.poll_interval_s > 0


@pytest.mark.parametrize("name", NAMES)
def test_what_the_spec_declares_matches_the_interface(name):
    spec = backend_spec(name)
    backend = spec.create()
    submit = inspect.signature(backend.submit).parameters
    many = inspect.signature(backend.submit_many).parameters
    assert {"resume", "resources"} <= set(submit)
    assert {"resources", "max_parallel", "job_name", "resume"} <= set(many)
    if spec.pins_gpus:  # the sweep places each trial on a GPU and passes it as env=
        assert "env" in submit
    if spec.packs_trials:
        assert {"trials_per_job", "mps"} <= set(many)
    assert not (spec.pins_gpus and spec.packs_trials)
    if not spec.detached:  # trains in the caller's process: nothing outlives it
        assert not (spec.tui or spec.arrays or spec.requeues or spec.pins_gpus
                    or spec.packs_trials)


@pytest.mark.parametrize("name", DETACHED_PROCESS)
@pytest.mark.parametrize("resume", [False, True])
def test_a_process_backend_starts_the_job_for_the_runs_attempt(name, resume, runs_dir,
                                                               monkeypatch):
    import emotui.launch.process as process

    seen = {}

    class FakeProcess:
        pid = 4321

        def __init__(self, command, **kw):
            seen.update(command=command, **kw)

        def wait(self):
            return 0

    monkeypatch.setattr(process.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(process, "process_identity", lambda pid: {"pid": pid})
    paths = RunStore(runs_dir).create("lora")
    write_status(paths, state="queued", backend=name, attempt=3)
    status = get_backend(name).submit(paths, resume=resume)
    command = seen["command"]
    job = command.index("emotui.launch.job")
    assert command[job - 1:job + 2] == ["-m", "emotui.launch.job", str(paths.root)]
    assert command[command.index("--backend") + 1] == name
    assert command[command.index("--attempt") + 1] == "3"  # core.status's fence
    assert ("--resume" in command) == resume
    assert seen["start_new_session"] is True  # outlives the launcher and the terminal
    assert seen["stdout"].name == str(paths.stdout) and seen["stderr"].name == str(paths.stderr)
    assert seen["env"]["PYTHONUNBUFFERED"] == "1"
    assert status["backend"] == name and status["job_id"] == "4321" and status["pid"] == 4321
    assert status["command"] == command


@pytest.mark.parametrize("name", DETACHED_PROCESS)
def test_a_process_backend_refuses_a_cap_it_cannot_keep(name, runs_dir):
    store = RunStore(runs_dir)
    with pytest.raises(BackendError, match=f"^the {name} backend starts runs at once; 2 runs "
                                           "exceed --max-parallel 1"):
        get_backend(name).submit_many([store.create("lora"), store.create("lora")],
                                      max_parallel=1)


@pytest.mark.parametrize("name", PROCESS)
def test_a_process_backends_cancel_stops_the_live_process(name, runs_dir):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                            start_new_session=True)
    try:
        paths = RunStore(runs_dir).create("lora")
        write_status(paths, state="running", backend=name, job_id=str(proc.pid), pgid=proc.pid,
                     **process_identity(proc.pid))
        get_backend(name).cancel([(paths, read_status(paths))])
        proc.wait(timeout=30)
        assert not process_alive(process_identity(proc.pid) | {"pid": proc.pid})
        assert read_status(paths)["state"] == "cancelled"
    finally:
        proc.kill()
        proc.wait()


def _run_parser():
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


@pytest.mark.parametrize("name", TAKING_RESOURCES)
def test_the_resources_a_backend_takes_plug_in_without_naming_it(name, tmp_path):
    takes = backend_spec(name).resources
    assert takes.section in SECTIONS  # a --config file's section, never a run setting
    # Every flag of its settings is on `emotui run`, in a group named for the section.
    group = next(g for g in _run_parser()._action_groups
                 if g.title == f"{takes.section} resources")
    flags = {o for action in group._group_actions for o in action.option_strings}
    schema = takes.schema
    assert flags == {o for spec in schema.fields.values() if spec.flag
                     for o in schema.flag_spellings(spec)}
    assert all(spec.name in schema.fields for spec in takes.form_fields())
    assert isinstance(takes.from_sources(), takes.cls)  # the defaults build
    # A sweep reads them from their section of its --config file.
    from emotui.sweep.launching import make_launcher

    assert isinstance(make_launcher(name, sections={takes.section: {}}).resources, takes.cls)
    with pytest.raises(ConfigError, match=rf"in sweep --config \({takes.section}:\)"):
        make_launcher(name, sections={takes.section: {"no_such_setting": 1}})


@pytest.mark.parametrize("name", TAKING_NONE)
def test_resources_flags_are_refused_for_a_backend_that_takes_none(name, runs_dir, tmp_path,
                                                                   capsys):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": text, "label": label}) + "\n"
                             for text, label in (("hi", 0), ("bye", 1))))
    for takes in resource_settings():
        spec = next(s for s in takes.schema.fields.values() if s.flag and not s.repeatable)
        flag = takes.schema.flag_spellings(spec)[0]
        code = main(["run", "--runs-dir", str(runs_dir), "--train_file", str(train),
                     "--backend", name, flag, "x"])
        err = capsys.readouterr().err
        takers = or_list(backends_taking(takes))
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert f"{flag} applies to --backend {takers}, but this run is {name}; add " \
               f"--backend {takers} or drop them" in err
    assert RunStore(runs_dir).run_ids() == []  # nothing half-created


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_table_of_backends_has_its_row(name):
    text = README.read_text(encoding="utf-8")
    table = text[text.index(README_TABLE):].split("\n\n")[0]
    assert f"\n| `{name}`" in table, (
        f"README.md's table of backends ('Where runs execute: backends') has no row for {name}")
