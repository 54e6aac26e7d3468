"""The report's numbers: equal to results.json, picked on validation, aggregated over seeds,
and the Pareto front."""

from __future__ import annotations

import json
import statistics

import pytest
from report_store import RUNS, run_numbers

from emotui.core.runstore import RunStore
from emotui.report.document import build_report
from emotui.report.gather import gather
from emotui.report.pareto import pareto_front
from emotui.report.select import Stat, group_by_seed


def _report(root, refs=(), draw=False):
    return build_report(gather(RunStore(root), list(refs)), draw=draw)


def _by_lr(configs, method):
    return {c.settings["learning_rate"]: c for c in configs if c.method == method}


def test_every_number_comes_from_results_json(report_runs):
    report = _report(report_runs)
    finished = {r.run_id: r for r in report.data["runs"]}
    assert set(finished) == {r[0] for r in RUNS}  # the running run is left out
    for run_id, run in finished.items():
        on_disk = json.loads((report_runs / run_id / "results.json").read_text())
        for key in ("eval_accuracy", "test_accuracy", "test_macro_f1", "trainable_params",
                    "train_runtime_s", "checkpoint_bytes", "peak_gpu_memory_bytes"):
            assert run.metric(key) == on_disk[key], (run_id, key)
        assert run.metric("test_accuracy") == run_numbers(run_id)["test_accuracy"]
    # A single-seed configuration shows its results.json numbers unchanged (in percent).
    prompt = report.data["best"]["prompt_tuning_text"]
    assert [r.run_id for r in prompt.runs] == ["251201-100900-ptext-fff1"]
    best_table = next(b for b in report.blocks if getattr(b, "columns", None)
                      and b.columns[0] == "Method" and "Test acc. %" in b.columns)
    row = next(r for r in best_table.rows if r[0] == "prompt tuning, text init")
    assert row[3:6] == ["80.50", "81.30", "70.00"]


def test_best_configuration_is_picked_on_validation_not_test(report_runs):
    report = _report(report_runs)
    lora = _by_lr(report.data["configurations"], "lora")
    honest, flattering = lora[1e-3], lora[5e-3]
    assert flattering.stat("test_accuracy").mean > honest.stat("test_accuracy").mean
    assert honest.stat("eval_accuracy").mean > flattering.stat("eval_accuracy").mean
    assert report.data["best"]["lora"] is honest
    # full fine-tuning: lr 2e-4 has the better test accuracy (94.0), lr 2e-5 the better
    # validation accuracy (93.2 mean): 2e-5 is picked.
    assert report.data["best"]["full"].settings["learning_rate"] == 2e-5


def test_runs_that_differ_only_by_seed_aggregate_to_mean_and_sample_std(report_runs):
    report = _report(report_runs)
    configs = report.data["configurations"]
    assert len(configs) == 6  # 10 finished runs: lora 3 + 2 + 1, full 2 + 1, prompt 1
    lora = _by_lr(configs, "lora")[1e-3]
    assert sorted(lora.seeds) == [1, 2, 3]
    tests = [0.890, 0.900, 0.930]
    assert lora.stat("test_accuracy").mean == pytest.approx(statistics.fmean(tests))
    assert lora.stat("test_accuracy").std == pytest.approx(statistics.stdev(tests))
    assert lora.stat("test_accuracy").std == pytest.approx(0.020817, abs=1e-6)  # n - 1
    f1 = [0.850, 0.860, 0.880]
    assert lora.stat("test_macro_f1").mean == pytest.approx(statistics.fmean(f1))
    best_table = next(b for b in report.blocks if getattr(b, "columns", None)
                      and b.columns[0] == "Method" and "Test acc. %" in b.columns)
    row = next(r for r in best_table.rows if r[0] == "LoRA")
    assert row[2] == "3"
    assert row[4] == "90.67 ± 2.08"
    assert row[5] == "86.33 ± 1.53"
    # One run: no spread to report.
    assert Stat((0.5,)).std is None


def test_group_by_seed_keeps_different_settings_apart(report_runs):
    runs = [r for r in gather(RunStore(report_runs), []).runs if r.finished]
    groups = group_by_seed(runs)
    assert sorted(len(g.runs) for g in groups) == [1, 1, 1, 2, 2, 3]
    for group in groups:
        assert len({r.config["learning_rate"] for r in group.runs}) == 1
        assert len({r.method for r in group.runs}) == 1
        seeds = [r.config["seed"] for r in group.runs]
        assert seeds == sorted(seeds)


def test_a_groups_runs_follow_their_seeds_not_their_ids():
    from emotui.report.gather import ReportRun

    # Made in one second: the ids' random tails sort seed 2 first.
    runs = [ReportRun(f"261127-115322-full-{tail}", "local", "full", "completed",
                      {"method": "full", "learning_rate": 5e-5, "seed": seed}, {})
            for tail, seed in (("n3nf", 2), ("wrxr", 1))]
    [group] = group_by_seed(runs)
    assert group.seeds == [1, 2]
    assert [r.run_id for r in group.runs] == ["261127-115322-full-wrxr",
                                              "261127-115322-full-n3nf"]


@pytest.mark.parametrize("points, front", [
    ([], []),
    ([(1, 0.5)], [0]),
    # cost up, accuracy up: every point is a trade-off
    ([(1, 0.5), (10, 0.7), (100, 0.9)], [0, 1, 2]),
    # (10, 0.6) is beaten by (5, 0.7): cheaper and better
    ([(100, 0.9), (10, 0.6), (5, 0.7), (1, 0.5)], [3, 2, 0]),
    # equal accuracy at a higher cost is beaten; identical points both stay
    ([(1, 0.8), (2, 0.8), (1, 0.8)], [0, 2]),
    # the same cost, lower accuracy: beaten
    ([(3, 0.9), (3, 0.4)], [0]),
])
def test_pareto_front(points, front):
    assert pareto_front(points) == front


def test_pareto_front_of_the_fixture_store(report_runs):
    report = _report(report_runs)
    configs = [c for c in report.data["configurations"]]
    points = [(c.stat("trainable_params").mean, c.stat("test_accuracy").mean) for c in configs]
    on_front = {(configs[i].method, configs[i].settings["learning_rate"])
                for i in pareto_front(points)}
    # prompt tuning (9k params, 81.3%), LoRA 5e-3 (890k, 95.5%); full fine-tuning is never
    # better than that LoRA configuration, so it is off the front.
    assert on_front == {("prompt_tuning_text", 0.02), ("lora", 5e-3)}
