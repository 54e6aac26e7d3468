"""W&B runs (the study's, or emotui's own logged to W&B) join the report like local runs."""

from __future__ import annotations

from emotui.core.runstore import RunStore
from emotui.report import gather as gather_module
from emotui.report.document import build_report
from emotui.report.gather import gather, remote_run


def study_record(run_id: str, *, lr: float, seed: int, eval_acc: float, test_acc: float,
                 config: dict | None = None) -> dict:
    """A normalized W&B run record as the study's train.py (HF Trainer) left it."""
    return {
        "id": run_id, "name": run_id, "state": "finished", "source": "wandb",
        "entity": "team", "project": "study", "url": f"https://wandb.ai/team/study/runs/{run_id}",
        "config": {"learning_rate": lr, "seed": seed, "peft_method": "lora", "lora_r": 8,
                   "model_name_or_path": "roberta-base", "num_train_epochs": 5,
                   "logging_dir": f"runs/{run_id}", "model/num_parameters": 125_534_214,
                   **(config or {})},
        "summary": {"eval/accuracy": eval_acc, "test/accuracy": test_acc,
                    "train_runtime": 207.5, "train_samples_per_second": 385.4,
                    "trainable_parameters": 887_046},
    }


def test_study_runs_from_wandb_group_by_seed_and_merge_into_local_twins(report_runs,
                                                                        monkeypatch):
    remote = [
        remote_run(study_record("w1", lr=1e-3, seed=23, eval_acc=0.93, test_acc=0.92)),
        remote_run(study_record("w2", lr=1e-3, seed=24, eval_acc=0.95, test_acc=0.90)),
        remote_run(study_record("w3", lr=1e-4, seed=23, eval_acc=0.90, test_acc=0.94)),
        # emotui's own run, logged to W&B: linked to its run directory, so no second row.
        remote_run(study_record("251201-100000-lora-aaa1", lr=1e-3, seed=1, eval_acc=0.9,
                                test_acc=0.89,
                                config={"emotui_run_id": "251201-100000-lora-aaa1"})),
    ]
    monkeypatch.setattr(gather_module, "_project_runs",
                        lambda tracker, path, refresh, gathered: remote)
    gathered = gather(RunStore(report_runs), [], wandb="team/study")
    ids = [r.run_id for r in gathered.runs]
    assert ids.count("251201-100000-lora-aaa1") == 1
    assert {"w1", "w2", "w3"} <= set(ids)
    twin = next(r for r in gathered.runs if r.run_id == "251201-100000-lora-aaa1")
    assert twin.source == "local+wandb"

    report = build_report(gathered, draw=False)
    study = [c for c in report.data["configurations"]
             if {r.run_id for r in c.runs} & {"w1", "w2", "w3"}]
    # logging_dir differs per run, but it is no setting of emotui's: w1 and w2 are one
    # configuration (seeds 23 and 24), w3 another.
    assert sorted(sorted(r.run_id for r in c.runs) for c in study) == [["w1", "w2"], ["w3"]]
    # The study trained roberta-base, the local runs another model: a section each, so the
    # pick is among the study's runs only.
    [section] = [s for s in report.data["sections"]
                 if any(r.run_id == "w1" for c in s.configs for r in c.runs)]
    assert section.scope.model == "roberta-base"
    assert not any(r.source == "local" for c in section.configs for r in c.runs)
    picked = section.best["lora"]
    assert sorted(r.run_id for r in picked.runs) == ["w1", "w2"]  # 94.0 on validation
    assert picked.stat("test_accuracy").mean == 0.91
