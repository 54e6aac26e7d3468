"""Study files and stores for the study tests (a module of its own with a unique name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emotui.core.runstore import RunStore
from emotui.study.study_file import load_study
from emotui.study.store import StudyStore, create_study_dir

# Two methods, two learning rates each, 2 epochs; the stand-in ignores the data.
STUDY = """\
name: toy
model: stand-in-model
data: toy/emotion
fixed:
  num_train_epochs: 2
  per_device_train_batch_size: 16
methods:
  full:
    parameters:
      learning_rate: {values: [1.0e-5, 1.0e-3]}
  lora:
    parameters:
      learning_rate: {values: [1.0e-1, 1.0e-3]}
      lora_r: {value: 4}
  ia3:
select: {metric: eval/accuracy}
confirm: {seeds: [1, 2, 3], num_train_epochs: 3}
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def open_study(tmp_path: Path, runs_dir: Path, text: str = STUDY, **kw: Any):
    """(spec, study paths, store) of a study file, its folder made as the CLI makes it."""
    file = write(tmp_path, text)
    spec = load_study([str(file)], **kw)
    store = RunStore(runs_dir)
    paths = StudyStore(store.root).paths(spec.default_id())
    if not paths.spec.exists():
        create_study_dir(paths, {**spec.to_json(), "fingerprint": spec.fingerprint()}, [file],
                         list(spec.methods))
    return spec, paths, store


def run_dirs(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.iterdir() if (p / "status.json").exists())


def state(paths) -> dict:
    return json.loads(paths.state.read_text())
