"""`emotui run --seeds`: one run per seed, grouped; inline in turn, detached submitted together;
bad input refused in one line before any run exists; ls/show name the group."""

from __future__ import annotations

import json

import pytest
from test_bad_input import assert_clean_refusal

from emotui.core.errors import BackendError
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status, write_status
from emotui.launch import registry
from emotui.launch.base import Backend, BackendSpec

SUBMITTED: list[dict] = []
NO_EVAL = ("--do_eval", "false", "--do_predict", "false")  # a train file alone


class GroupBackend(Backend):
    """A detached backend for the test: submit_many records one call per group (as Slurm makes
    one job array); with FAIL_AFTER it starts that many runs, then refuses the rest."""

    name = "grouped"
    FAIL_AFTER: int | None = None

    def submit(self, paths: RunPaths, *, resume: bool = False, resources=None) -> dict:
        return write_status(paths, state="queued", reason="submitted", backend=self.name,
                            job_id=f"job-{paths.run_id[-4:]}")

    def submit_many(self, runs, *, resources=None, max_parallel=None, job_name=None,
                    resume=False) -> list[dict]:
        runs = list(runs)
        SUBMITTED.append({"runs": [p.run_id for p in runs], "job_name": job_name})
        statuses = []
        for index, paths in enumerate(runs):
            if self.FAIL_AFTER is not None and index >= self.FAIL_AFTER:
                raise BackendError("the test backend refused the rest")
            statuses.append(self.submit(paths))
        return statuses

    def refresh(self, runs):
        return {paths.run_id: status for paths, status in runs}

    def cancel(self, runs):
        return None


@pytest.fixture
def grouped_backend(monkeypatch):
    spec = BackendSpec("grouped", label="test double", help="records submit_many",
                       factory=f"{__name__}:GroupBackend", detached=True, arrays=True,
                       this_machine=False)  # it loads nothing: no Hub to reach
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    monkeypatch.setattr(GroupBackend, "FAIL_AFTER", None)
    SUBMITTED.clear()
    return spec


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n"
                            for text, label in (("so glad", 1), ("so sad", 0))))
    return path


@pytest.mark.parametrize("extra, fragment", [
    (["--seeds", "a"], "--seeds a: 'a' is not an integer seed"),
    (["--seeds", "1,2,1"], "seed 1 is given twice"),
    (["--seeds", "1,,2"], "an empty entry"),
    (["--seeds", ""], "--seeds needs a comma-separated list of seeds"),
    (["--seeds", "1,2", "--seed", "3"], "--seed and --seeds both given"),
    (["--seeds", "1,2", "--resume", "nosuchrun"], "--resume continues one run"),
    (["--seeds", "1,2", "--backend", "local", "--follow"], "--follow shows one run"),
    (["--seeds", "1,2", "--partition", "gpu"], "--partition applies to --backend slurm"),
    (["--seeds", "1,2", "--learning_rate", "fast"], "learning_rate (from command line) must be"),
])
def test_bad_seed_requests_are_one_line_and_leave_nothing(cli, train_file, extra, fragment):
    result = cli("run", "--train_file", str(train_file), *extra)
    assert_clean_refusal(result, cli.runs_dir, fragment)
    assert result.out == ""  # no run id was printed


def test_a_seed_list_starting_with_a_dash_is_the_flags_value(cli, train_file):
    """`--seeds -1,2` reaches the seed check (argparse alone says "expected one argument")."""
    result = cli("run", "--train_file", str(train_file), "--seeds", "-1,2")
    assert_clean_refusal(result, cli.runs_dir, "seed (from --seeds) must be >= 0, got -1")


def test_detached_seeds_are_submitted_together_as_one_group(cli, train_file, grouped_backend):
    result = cli("run", "--train_file", str(train_file), *NO_EVAL, "--learning_rate", "2e-4",
                 "--backend", "grouped", "--seeds", "3,1,2", "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    group = out["group"]
    assert group.startswith("seeds-") and out["backend"] == "grouped"
    assert [r["seed"] for r in out["runs"]] == [3, 1, 2]
    assert all(r["status"] == "queued" and r["job_id"] for r in out["runs"])
    ids = [r["run_id"] for r in out["runs"]]
    # One submit_many call for the whole group (a Slurm backend makes it one job array).
    assert SUBMITTED == [{"runs": ids, "job_name": group}]
    store = RunStore(cli.runs_dir)
    configs = []
    for run_id, seed in zip(ids, (3, 1, 2)):
        paths = store.paths(run_id)
        assert read_status(paths)["group"] == group
        config = paths.config.read_text()
        assert f"seed: {seed}\n" in config
        configs.append(config.replace(f"seed: {seed}\n", ""))
    assert len(set(configs)) == 1  # nothing but the seed differs

    listing = cli("ls")  # piped: whole values, one run a line
    assert "group" in listing.out.splitlines()[0]
    assert all(group in line for line in listing.out.splitlines()[1:])
    shown = cli("show", ids[1])
    assert f"group\t{group}\n" in shown.out
    rows = json.loads(cli("ls", "--json").out)
    assert {r["run_id"]: r["group"] for r in rows} == {i: group for i in ids}


def test_a_refused_group_submission_keeps_only_what_started(cli, train_file, grouped_backend,
                                                            monkeypatch):
    monkeypatch.setattr(GroupBackend, "FAIL_AFTER", 1)
    result = cli("run", "--train_file", str(train_file), *NO_EVAL, "--backend", "grouped",
                 "--seeds", "1,2,3")
    assert result.code == 2
    assert "the test backend refused the rest" in result.err
    started = SUBMITTED[0]["runs"][0]
    assert f"runs {started} of group" in result.err
    assert RunStore(cli.runs_dir).run_ids() == [started]  # the two never submitted are gone


def test_inline_seeds_train_one_after_another_and_fold_in_compare(
        cli, tiny_model_dir, toy_data_dir):
    flags = ["--model_name_or_path", str(tiny_model_dir),
             "--train_file", str(toy_data_dir / "train.jsonl"),
             "--validation_file", str(toy_data_dir / "validation.jsonl"),
             "--test_file", str(toy_data_dir / "test.jsonl"),
             "--num_train_epochs", "1", "--learning_rate", "3e-3", "--max_seq_length", "64",
             "--per_device_train_batch_size", "16", "--logging_steps", "5"]
    result = cli("run", *flags, "--seeds", "1,2", "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert [(r["seed"], r["status"]) for r in out["runs"]] == [(1, "completed"), (2, "completed")]
    store = RunStore(cli.runs_dir)
    ids = [r["run_id"] for r in out["runs"]]
    assert store.run_ids() == sorted(ids)
    for run in out["runs"]:
        paths = store.paths(run["run_id"])
        assert read_status(paths)["group"] == out["group"]
        assert read_status(paths)["backend"] == "inline"
        assert run["results"]["test_accuracy"] == json.loads(paths.results.read_text())[
            "test_accuracy"]
    # Inline, one after the other: the second started after the first ended.
    first, second = (read_status(store.paths(i)) for i in ids)
    assert second["started"] >= first["ended"]

    folded = cli("compare", "--by-seed", "--format", "json")
    [row] = json.loads(folded.out)
    accuracies = [r["results"]["test_accuracy"] for r in out["runs"]]
    assert row["seeds"] == 2 and row["run_ids"] == ids and row["seed"] == "1,2"
    assert row["test_accuracy"] == pytest.approx(sum(accuracies) / 2)
