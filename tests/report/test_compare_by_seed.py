"""`emotui compare --by-seed`: runs that differ only by seed as one row with mean ± std (the
report's grouping); a sweep's seed values make such replicas; `--sort -COLUMN` as its help says."""

from __future__ import annotations

import csv
import io
import json
import statistics

import pytest
from report_store import RUNS

from emotui.cli.main import main
from emotui.core.runstore import RunStore
from emotui.report.gather import local_run
from emotui.report.select import group_by_seed

LORA_A = ["251201-100000-lora-aaa1", "251201-100100-lora-aaa2", "251201-100200-lora-aaa3"]
FULL_D = ["251201-100600-full-ddd1", "251201-100700-full-ddd2"]


def _compare(capsys, root, *argv: str):
    capsys.readouterr()
    code = main(["compare", "--runs-dir", str(root), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _numbers(run_ids, column):
    index = {"eval_accuracy": 4, "test_accuracy": 5, "test_macro_f1": 6, "train_runtime_s": 8}
    return [next(r[index[column]] for r in RUNS if r[0] == rid) for rid in run_ids]


def test_by_seed_folds_replicas_into_mean_and_sample_std(report_runs, capsys):
    code, out, _ = _compare(capsys, report_runs, "--by-seed", "--format", "json",
                            "--filter", "status=completed")
    assert code == 0
    rows = {tuple(r["run_ids"]): r for r in json.loads(out)}
    # 10 finished runs: LoRA A (3 seeds), LoRA B (2), full D (2), and three single runs.
    assert sorted(len(k) for k in rows) == [1, 1, 1, 2, 2, 3]
    lora = rows[tuple(LORA_A)]
    assert lora["seeds"] == 3 and lora["seed"] == "1,2,3" and lora["status"] == "completed"
    assert lora["run_id"] == "251201-100000-lora-aaa1 (+2)"
    for column in ("eval_accuracy", "test_accuracy", "test_macro_f1", "train_runtime_s"):
        values = _numbers(LORA_A, column)
        assert lora[column] == pytest.approx(statistics.fmean(values))
        assert lora[f"{column}_std"] == pytest.approx(statistics.stdev(values))
    full = rows[tuple(FULL_D)]
    assert full["test_accuracy"] == pytest.approx((0.925 + 0.921) / 2)
    assert full["test_accuracy_std"] == pytest.approx(statistics.stdev([0.925, 0.921]))
    single = rows[("251201-100900-ptext-fff1",)]
    assert single["seeds"] == 1 and single["test_accuracy"] == 0.813  # as results.json has it
    assert single.get("test_accuracy_std") is None  # one value has no spread


def test_by_seed_in_csv_and_in_a_file(report_runs, capsys, tmp_path):
    code, out, _ = _compare(capsys, report_runs, "--by-seed", "--format", "csv",
                            "--filter", "method=lora", "--sort", "-eval_accuracy")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["run_id", "method", "status", "seeds"]
    assert header[header.index("test_accuracy") + 1] == "test_accuracy_std"
    assert [r["seeds"] for r in rows] == ["3", "2", "1", "1"]  # sorted by the mean
    assert float(rows[0]["eval_accuracy"]) == pytest.approx(0.91)

    table = tmp_path / "table.tsv"
    code, _, _ = _compare(capsys, report_runs, "--by-seed", "--filter", "method=full",
                          "--output", str(table))
    assert code == 0
    lines = [line.split("\t") for line in table.read_text().splitlines()]
    rows = [dict(zip(lines[0], line)) for line in lines[1:]]
    full = next(r for r in rows if r["seeds"] == "2")  # full D: validation 0.930 and 0.934
    assert float(full["eval_accuracy"]) == pytest.approx(0.932)
    assert float(full["eval_accuracy_std"]) == pytest.approx(statistics.stdev([0.930, 0.934]))


def test_without_by_seed_compare_says_there_are_replicas(report_runs, capsys):
    code, out, err = _compare(capsys, report_runs)
    assert code == 0 and out.count("lora") >= 6  # one row per run, as before
    assert "7 runs are seed replicas of 3 configurations; --by-seed" in err
    code, out, err = _compare(capsys, report_runs, "--format", "csv")
    assert "replicas" not in err  # machine formats stay quiet


@pytest.mark.parametrize("sort", [["--sort", "-test_accuracy"], ["--sort=-test_accuracy"]])
def test_sort_descending_takes_a_leading_dash(report_runs, capsys, sort):
    """The help's own example, `--sort -test_accuracy`, used to fail: 'expected one argument'."""
    code, out, err = _compare(capsys, report_runs, *sort, "--format", "json")
    assert code == 0, err
    values = [r["test_accuracy"] for r in json.loads(out) if r["test_accuracy"] is not None]
    assert values == sorted(values, reverse=True) and values[0] == 0.96
    assert "sorted by test_accuracy, a test metric" in err


def test_a_sort_value_that_is_a_flag_is_still_a_flag(report_runs, capsys):
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        _compare(capsys, report_runs, "--sort", "--format", "csv")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("emotui: error:") and "--sort" in err and len(err.splitlines()) == 1


def test_a_sweeps_seed_values_are_replicas_of_one_configuration(tmp_path):
    """`seed: values: [...]` makes one trial per seed; compare/report fold them (their configs
    differ only by seed)."""
    from emotui.core.lifecycle import create_run
    from emotui.sweep.space import grid_point
    from emotui.sweep.spec import load_sweep

    file = tmp_path / "seeds.yaml"
    file.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\n"
                    "parameters:\n  learning_rate: {values: [0.001, 0.002]}\n"
                    "  seed: {values: [1, 2, 3]}\n  method: {value: lora}\n")
    spec = load_sweep(file)
    store = RunStore(tmp_path / "runs")
    index = 0
    while (point := grid_point(spec, index)) is not None:
        config, _ = spec.trial_config(point)
        create_run(store, config, backend="inline", sweep_id="s", sweep_trial=index)
        index += 1
    runs = [local_run(paths) for paths in store]
    assert len(runs) == 6
    configs = group_by_seed(runs)
    assert sorted(len(c.runs) for c in configs) == [3, 3]
    for config in configs:
        assert sorted(config.seeds) == [1, 2, 3]
        assert len({all_but_the_seed(r) for r in config.runs}) == 1


def all_but_the_seed(run) -> str:
    return json.dumps({k: v for k, v in run.config.items() if k != "seed"}, sort_keys=True)
