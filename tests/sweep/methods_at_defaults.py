"""Write sweep_configs/methods_at_defaults.yaml: every registered method once, at its defaults.

    uv run python tests/sweep/methods_at_defaults.py

The file is generated from the method registry (emotui.core.methods); a test
(tests/sweep/test_method_sweeps.py) fails while it differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from emotui.core import methods  # noqa: E402

PATH = REPO / "sweep_configs" / "methods_at_defaults.yaml"
COMMAND = "uv run python tests/sweep/methods_at_defaults.py"

TEMPLATE = """\
# Every method at its own defaults (no learning_rate here: each method's default applies and
# config.yaml lists it under method_defaults) = {count} trials, one per method, same data and schedule.
# Run: emotui sweep sweep_configs/methods_at_defaults.yaml [--backend slurm --max-parallel 4]
# Generated from the method registry by: {command}
program: emotui
method: grid
metric:
  name: eval/accuracy
  goal: maximize
parameters:
  method:
    values: [{aliases}]
  # --- fixed ---
  model_name_or_path: {{value: roberta-base}}
  dataset_name: {{value: dair-ai/emotion}}
  text_column_names: {{value: text}}
  label_column_name: {{value: label}}
  seed: {{value: 23}}
  max_seq_length: {{value: 128}}
  shuffle_train_dataset: {{value: true}}
  per_device_train_batch_size: {{value: 64}}
  num_train_epochs: {{value: 5}}
  eval_strategy: {{value: epoch}}
  save_strategy: {{value: epoch}}
  save_total_limit: {{value: 2}}
  load_best_model_at_end: {{value: true}}
  metric_for_best_model: {{value: accuracy}}
"""


def text() -> str:
    return TEMPLATE.format(count=len(methods.METHODS), aliases=", ".join(methods.aliases()),
                           command=COMMAND)


if __name__ == "__main__":
    PATH.write_text(text(), encoding="utf-8")
    print(PATH)
