"""Every registered tracker (emotui.core.trackers.TRACKERS) is what emotui needs, through one
interface: a report_to value, its flags and config sections, its choices in status.json, a
--<name> PROJECT for compare, report and the TUI, a logger, a project reader. A new tracker is
checked here with nothing to add."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emotui.cli.flags import tracker_status_fields
from emotui.cli.main import build_parser
from emotui.core.config import build_config
from emotui.core.config_files import SECTIONS
from emotui.core.general_settings import GeneralSettings  # noqa: F401  (the field's home)
from emotui.core.settings import Schema
from emotui.core.trackers import REPORT_TO_CHOICES, TRACKERS, reported_to
from emotui.tracking import FanOutLogger, NullLogger, open_logger
from emotui.tracking.trackers import tracker

NAMES = [spec.name for spec in TRACKERS]


@pytest.mark.parametrize("name", NAMES)
def test_its_module_defines_it(name):
    found = tracker(name)
    assert found.name == name and found.label
    assert isinstance(found.settings, Schema) and "project" in found.settings.fields
    assert found.status_key == f"{name}_settings"
    assert callable(found.logger) and callable(found.project)
    assert found.refresh_every_s > 0


@pytest.mark.parametrize("name", NAMES)
def test_it_is_a_report_to_value_and_a_config_section(name, tmp_path):
    assert name in REPORT_TO_CHOICES and name in SECTIONS
    assert [s.name for s in reported_to(name)] == [name]
    config, _ = build_config([("test", {"report_to": name})])
    assert config.report_to == name
    assert [s.name for s in reported_to("all")] == NAMES and reported_to("none") == []


@pytest.mark.parametrize("name", NAMES)
def test_its_flags_and_sections_reach_status_json(name, tmp_path):
    parser = build_parser()
    args = parser.parse_args(["run", f"--{name}-project", "from-flag"])
    fields = tracker_status_fields(args, {name: {"project": "from-file"}})
    assert fields[tracker(name).status_key]["project"] == "from-flag"
    args = parser.parse_args(["run"])
    assert tracker_status_fields(args, {name: {"project": "from-file"}}) == {
        tracker(name).status_key: {"project": "from-file"}}
    assert tracker_status_fields(args, {}) == {}


@pytest.mark.parametrize("name", NAMES)
def test_compare_report_and_the_tui_take_its_project(name):
    parser = build_parser()
    for argv in (["compare", f"--{name}", "p"], ["report", f"--{name}", "p"],
                 ["serve", f"--{name}", "p"], [f"--{name}", "p"]):
        assert getattr(parser.parse_args(argv), name) == "p", argv


def test_report_to_all_logs_to_every_tracker(tmp_path):
    from emotui.core.lifecycle import create_run
    from emotui.core.runstore import RunStore

    loggers = {}
    for value in ("none", *NAMES, "all"):
        config, _ = build_config([("test", {"report_to": value})])
        paths = create_run(RunStore(tmp_path / value), config, backend="inline")
        loggers[value] = open_logger(config, paths)
    assert isinstance(loggers["none"], NullLogger)
    assert isinstance(loggers["all"], FanOutLogger) and len(loggers["all"].loggers) == len(NAMES)
    assert [type(x) for x in loggers["all"].loggers] == [type(loggers[n]) for n in NAMES]


def test_loading_trackers_loads_no_tracker_library():
    code = ("import sys\n"
            "from emotui.tracking.trackers import all_trackers\n"
            "from emotui.tracking import open_logger\n"
            "all_trackers()\n"
            "print(sorted(m for m in ('wandb', 'trackio', 'huggingface_hub') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
