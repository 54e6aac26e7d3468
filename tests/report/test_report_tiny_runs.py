"""A report from runs the real training loop wrote (tiny model, CPU): the run directory's files
as they really are, not as a fixture imagines them."""

from __future__ import annotations

import json

from toy_runs import new_run, toy_config

from emotui.cli.main import main
from emotui.train import train


def test_report_of_tiny_runs_with_two_seeds(tiny_model_dir, toy_data_dir, runs_dir, tmp_path,
                                            capsys):
    ids = []
    for method, lr in (("lora", 1e-2), ("full", 3e-3)):
        for seed in (1, 2):
            config = toy_config(tiny_model_dir, toy_data_dir, method=method, learning_rate=lr,
                                num_train_epochs=2, seed=seed)
            paths = new_run(runs_dir, config)
            train(config, paths.root)
            ids.append(paths.run_id)
    out = tmp_path / "report.md"
    assert main(["report", "--runs-dir", str(runs_dir), "--format", "markdown",
                 "--out", str(out)]) == 0
    assert "report of 4 runs, 2 methods" in capsys.readouterr().out
    text = out.read_text()
    for method_label, run_ids in (("LoRA", ids[:2]), ("full fine-tuning", ids[2:])):
        results = [json.loads((runs_dir / i / "results.json").read_text()) for i in run_ids]
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| {method_label} | lr="))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "2"  # the two seeds are one configuration
        mean_test = sum(r["test_accuracy"] for r in results) / 2
        assert cells[4].startswith(f"{100 * mean_test:.2f}")
        assert " ± " in cells[4]
    assert "(CPU)" in text  # GPU-hours of runs that trained on a CPU say so
    assert (tmp_path / "report_figures" / "eval_curves.svg").is_file()
    assert (tmp_path / "report_figures" / "confusion.svg").is_file()
