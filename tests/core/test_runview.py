"""core.runview: a run's files read tolerantly into typed values, one line per problem."""

from __future__ import annotations

import json

import pytest
from core.corrupt_store import FILES, KINDS, damage, damages, write_good_run

from emotui.core.results import summarize
from emotui.core.runstore import RunStore, read_json
from emotui.core.runview import UNREADABLE, read_checked_status, read_run


@pytest.fixture
def good(tmp_path):
    return write_good_run(RunStore(tmp_path / "runs"), "250101-000000-lora-good")


def test_a_good_run_has_no_problems(good):
    view = read_run(good)
    assert view.readable and view.why is None
    assert view.status["state"] == "completed" and view.results["test_accuracy"] == 0.89
    assert view.config["method"] == "lora"
    assert summarize(good)["status"] == "completed"


def test_absent_files_are_no_problem(tmp_path):
    paths = RunStore(tmp_path / "runs").create("lora")
    view = read_run(paths)
    assert view.readable and view.status == {} and view.results is None and view.config == {}


@pytest.mark.parametrize("file, kind, variant", damages(),
                         ids=["-".join(p for p in d if p) for d in damages()])
def test_every_damage_reads_without_raising(good, file, kind, variant):
    damage(good, file, kind, variant)
    view = read_run(good)
    row = summarize(good)
    if file in ("status.json", "results.json", "config.yaml"):
        assert not view.readable
        assert row["status"] == UNREADABLE and file in row["reason"]
    else:
        assert view.readable and row["status"] == "completed"
    json.dumps(row)  # every value a listing shows is plain data


@pytest.mark.parametrize("field, value, problem", [
    ("state", 5, "status.json: state is 5 (a number), expected text"),
    ("progress", "abc", "status.json: progress is 'abc' (text), expected a number"),
    ("started", {}, "status.json: started is {} (a mapping), expected a number"),
    ("pid", True, "status.json: pid is True (a boolean), expected an integer"),
])
def test_a_field_of_the_wrong_type_is_dropped_and_named(good, field, value, problem):
    status = json.loads(good.status.read_text())
    status[field] = value
    good.status.write_text(json.dumps(status))
    view = read_run(good)
    assert view.problems == (problem,)
    assert field not in view.status and view.status["backend"] == "inline"
    fields, problems = read_checked_status(good)
    assert problems == (problem,) and field not in fields


def test_long_values_are_cut_in_the_reason(good):
    status = json.loads(good.status.read_text())
    status["state"] = ["x" * 100_000]
    good.status.write_text(json.dumps(status))
    assert len(read_run(good).why) < 200


def test_read_json_gives_objects_only(tmp_path):
    path = tmp_path / "x.json"
    for text in ("[1, 2]", '"text"', "3", "null"):
        path.write_text(text)
        assert read_json(path) is None
    path.unlink()
    path.mkdir()
    assert read_json(path) is None


def test_the_generator_covers_every_file_and_kind():
    made = damages()
    assert {f for f, _, _ in made} == set(FILES)
    assert {k for _, k, _ in made} == set(KINDS)
