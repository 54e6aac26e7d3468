"""A run store that makes a report hard to lay out, written with emotui.core's own helpers.

- two models, two datasets and a run whose config.yaml is missing: four sections, never one
  table or one front;
- LoRA as a 4 x 3 grid whose costs sit within a decade (crowded labels, a log axis that could
  print 3×10⁴4×10⁴) and close accuracies (a long, dense Pareto front);
- a LoRA run whose config.yaml changed some forty settings (an older or hand-edited file);
- every method of the registry, collapsed runs, seeds, training times within a decade.

    python tests/report/awkward_store.py OUT            # its report: OUT/report.pdf (+ .typ)
    python tests/report/awkward_store.py --store DIR    # the store alone, for `emotui report`:
    emotui report --runs-dir DIR --pdf --out OUT/report.pdf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from report_store import START, _config, _results  # noqa: E402

from emotui.core.config import dump_config  # noqa: E402
from emotui.core.runstore import RunStore, atomic_write_json  # noqa: E402
from emotui.core.status import write_status  # noqa: E402

MODEL = "fixture/encoder"
OTHER_MODEL = "fixture/larger-encoder"
DATA = {"dataset_name": "dair-ai/emotion"}
OTHER_DATA = {"dataset_name": "google-research-datasets/go_emotions",
              "dataset_config_name": "simplified"}
EPOCHS = 2


def _runs() -> list[tuple]:
    """(method, overrides, seed, eval acc, test acc, trainable, runtime s, collapsed, model,
    data)"""
    runs: list[tuple] = []
    # LoRA: 4 learning rates x 3 ranks; parameters grow with the rank, accuracy with both.
    for i, lr in enumerate((5e-4, 1e-3, 2e-3, 4e-3)):
        for j, r in enumerate((4, 8, 16)):
            acc = 0.80 + 0.012 * i + 0.01 * j
            runs.append(("lora", {"learning_rate": lr, "lora_r": r}, 1, acc, acc - 0.004,
                         30_000 + 5_000 * j + 400 * i, 160.0 + 9 * i + 7 * j, False, MODEL))
    runs.append(("lora", {"learning_rate": 2e-2, "lora_r": 8}, 1, 0.352, 0.347, 35_000, 171.0,
                 True, MODEL))
    for seed in (1, 2, 3):
        runs.append(("full", {"learning_rate": 2e-5}, seed, 0.93 + 0.003 * seed,
                      0.925 + 0.002 * seed, 22_700_000, 280.0 + seed, False, MODEL))
    runs += [
        ("prompt-text", {"learning_rate": 2e-2, "prompt_tuning_num_virtual_tokens": 12}, 1,
         0.70, 0.705, 4_998, 150.0, False, MODEL),
        ("prompt-random", {"learning_rate": 3e-2}, 1, 0.352, 0.35, 7_686, 151.0, True, MODEL),
        ("ia3", {"learning_rate": 3e-2}, 1, 0.83, 0.828, 23_046, 158.0, False, MODEL),
        ("prefix", {"learning_rate": 3e-2}, 1, 0.79, 0.786, 189_702, 166.0, False, MODEL),
        ("p-tuning", {"learning_rate": 3e-2}, 1, 0.75, 0.752, 115_206, 162.0, False, MODEL),
    ]
    runs = [(*run, DATA) for run in runs]
    # Another model, and another dataset: sections of their own, never on these fronts.
    runs += [
        ("lora", {"learning_rate": 1e-3, "lora_r": 8}, 1, 0.91, 0.905, 120_000, 300.0, False,
         OTHER_MODEL, DATA),
        ("full", {"learning_rate": 2e-5}, 1, 0.94, 0.938, 33_000_000, 420.0, False,
         OTHER_MODEL, DATA),
        ("lora", {"learning_rate": 1e-3, "lora_r": 8}, 1, 0.61, 0.60, 35_000, 900.0, False,
         MODEL, OTHER_DATA),
    ]
    return runs


ODD_RUN = "251202-120000-lora-odd1"
NO_CONFIG_RUN = "251202-120100-full-noc1"


def _odd(config_text: str) -> str:
    """The config with some forty settings changed, as a hand-edited file could have them."""
    values = yaml.safe_load(config_text)
    for key, value in list(values.items()):
        if key in ("method", "peft_method", "model_name_or_path", "seed", "dataset_name",
                   "dataset_config_name", "method_defaults"):
            continue
        if isinstance(value, bool):
            values[key] = not value
        elif isinstance(value, (int, float)):
            values[key] = value * 3 + 1
        elif isinstance(value, str):
            values[key] = value + "-edited"
    return yaml.safe_dump(values, sort_keys=False)


def _write(store: RunStore, index: int, run_id: str, method: str, overrides: dict, seed: int,
           numbers: tuple, model: str, data: dict, config_text=None) -> None:
    eval_acc, test_acc, trainable, runtime, collapsed = numbers
    paths = store.create(method, run_id=run_id)
    config = _config(method, {**data, "model_name_or_path": model, **overrides}, seed)
    text = dump_config(config) if config_text is None else config_text(dump_config(config))
    paths.config.write_text(text, encoding="utf-8")
    started = START + 600 * index
    write_status(paths, state="queued", created=started - 5, backend="local")
    events = [{"time": started + epoch, "split": "eval", "step": 10 * epoch,
               "epoch": float(epoch), "loss": 0.5,
               "accuracy": eval_acc if epoch == EPOCHS else round(eval_acc - 0.05, 4),
               "macro_f1": eval_acc - 0.03} for epoch in range(1, EPOCHS + 1)]
    paths.metrics.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    results = _results(paths, config, eval_acc, test_acc, test_acc - 0.04, trainable, runtime,
                       collapsed)
    results["device"] = "cpu"
    if model == OTHER_MODEL:
        results["total_params"] = 33_100_000 + (trainable if trainable < 33_000_000 else 0)
    atomic_write_json(paths.results, results)
    write_status(paths, state="completed", started=started, ended=started + 2 * runtime)


def build_awkward_store(root: Path) -> RunStore:
    store = RunStore(root)
    runs = _runs()
    for index, (method, overrides, seed, eval_acc, test_acc, trainable, runtime, collapsed,
                model, data) in enumerate(runs):
        tag = {"prompt-text": "ptext", "prompt-random": "prand", "p-tuning": "ptune"}.get(
            method, method)
        _write(store, index, f"251202-{100000 + 100 * index}-{tag}-{index:04d}", method,
               overrides, seed, (eval_acc, test_acc, trainable, runtime, collapsed), model,
               data)
    _write(store, len(runs), ODD_RUN, "lora", {"learning_rate": 1e-3, "lora_r": 8}, 1,
           (0.84, 0.83, 41_000, 190.0, False), MODEL, DATA, config_text=_odd)
    _write(store, len(runs) + 1, NO_CONFIG_RUN, "full", {"learning_rate": 2e-5}, 1,
           (0.92, 0.91, 22_700_000, 290.0, False), MODEL, DATA)
    store.paths(NO_CONFIG_RUN).config.write_text("{}\n", encoding="utf-8")  # nothing recorded
    return store


def write_awkward_report(out: Path) -> list[Path]:
    """The store's report as PDF (and its Typst source) in ``out``."""
    import tempfile

    from emotui.report.document import build_report
    from emotui.report.gather import gather
    from emotui.report.output import write_report

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_awkward_store(Path(tmp) / "runs")
        report = build_report(gather(store, []), title="emotui report: an awkward run store")
        report.subtitle = "tests/report/awkward_store.py"  # the same bytes on every rebuild
        return write_report(report, "typst", out / "report.typ", pdf=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--store"]:
        print(build_awkward_store(Path(sys.argv[2])).root)
    else:
        for path in write_awkward_report(Path(sys.argv[1])):
            print(path)
