"""`emotui demo`: its model and data (built offline, loadable, valid), its plan, start and stop."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from emotui.cli import demo_driver
from emotui.core.runstore import RunStore


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A run store whose demo assets are built (once for the module: seconds)."""
    from emotui.train.demo_assets import build_demo_assets

    store = RunStore(tmp_path_factory.mktemp("demo") / "runs")
    build_demo_assets(demo_driver.assets_root(store))
    return store


def test_model_loads_with_from_pretrained(demo_store):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from emotui.train.demo_assets import DemoAssets

    assets = DemoAssets(demo_driver.assets_root(demo_store))
    assert assets.ready
    tokenizer = AutoTokenizer.from_pretrained(assets.model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(assets.model_dir, num_labels=6)
    batch = tokenizer(["i feel happy today"], return_tensors="pt")
    assert model(**batch).logits.shape == (1, 6)


def test_data_validates_as_six_emotion_labels(demo_store):
    from emotui.core.config import build_config
    from emotui.train.data import EMOTION_LABELS, load_splits
    from emotui.train.demo_assets import SPLIT_SIZES

    settings = demo_driver.data_settings(demo_store)
    config, _ = build_config([("test", settings)])
    dataset = load_splits(config)
    assert dataset.label_names == list(EMOTION_LABELS)
    assert {name: len(split) for name, split in dataset.splits.items()} == SPLIT_SIZES
    for split in dataset.splits.values():
        assert set(split.labels) == set(range(6))


def test_assets_are_reused(demo_store):
    from emotui.train.demo_assets import DONE_MARKER, build_demo_assets

    root = demo_driver.assets_root(demo_store)
    before = (root / "model" / "model.safetensors").stat().st_mtime_ns
    started = time.monotonic()
    build_demo_assets(root)
    assert time.monotonic() - started < 1.0
    assert (root / "model" / "model.safetensors").stat().st_mtime_ns == before
    assert json.loads((root / DONE_MARKER).read_text())["version"] >= 1


def test_the_plan_validates(demo_store, tmp_path):
    from emotui.core.methods import names
    from emotui.sweep.runner import dry_run, open_sweep

    configs = demo_driver.method_configs(demo_store)
    assert [c.method for c in configs] == list(names()[:4])  # the four study methods
    file = tmp_path / "demo.yaml"
    file.write_text(demo_driver.SWEEP_YAML)
    overrides = [f"{k}={v}" for k, v in demo_driver.data_settings(demo_store).items()]
    spec, paths, exists = open_sweep(file, overrides, demo_store, name="demo-test")
    trials = dry_run(spec, None, count=None, max_parallel=2)
    assert not exists and len(trials) == 3
    assert {t["config"]["method"] for t in trials} == {"lora"}


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)


def _pretend_driver(store: RunStore, proc: subprocess.Popen) -> None:
    from emotui.core.runstore import atomic_write_json
    from emotui.launch.base import process_identity

    root = demo_driver.assets_root(store)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / demo_driver.STATE_FILE,
                      {"state": "running", "runs": [], **process_identity(proc.pid)})


def test_demo_already_running_starts_nothing(cli):
    proc = _sleeper()
    try:
        _pretend_driver(RunStore(cli.runs_dir), proc)
        result = cli("demo")
        assert result.code == 0 and "already running" in result.out
        assert "emotui demo --stop" in result.out
    finally:
        proc.kill()
        proc.wait()


def test_demo_stop_stops_the_driver(cli):
    proc = _sleeper()
    try:
        _pretend_driver(RunStore(cli.runs_dir), proc)
        result = cli("demo", "--stop")
        assert result.code == 0 and "demo stopped" in result.out
        assert proc.wait(timeout=10) != 0  # SIGTERM
    finally:
        proc.kill()


def test_demo_stop_without_a_demo(cli):
    result = cli("demo", "--stop")
    assert result.code == 0 and "no demo" in result.out
