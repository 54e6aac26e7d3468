"""WandbLogger on its own (no training): what it logs, where, and how it fails without blocking."""

from __future__ import annotations

import logging

import pytest
from tracking_helpers import PLANTED_KEY, files_containing, wait_for_exit_record

from emotui.cli.flags import wandb_run_choices
from emotui.core.config import build_config, dump_config
from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore
from emotui.core.seeds import GROUP_FIELD
from emotui.core.status import write_status
from emotui.tracking import NullLogger, keys, open_logger
from emotui.tracking.offline import read_offline_runs
from emotui.tracking.settings import STATUS_KEY, clean_section, resolve, status_fields
from emotui.tracking.wandb_logger import WandbLogger

EVENTS = [
    {"time": 1.0, "split": "train", "step": 5, "epoch": 0.5, "loss": 1.2, "learning_rate": 1e-3,
     "grad_norm": 2.0},
    {"time": 2.0, "split": "train", "step": 10, "epoch": 1.0, "loss": None, "learning_rate": 9e-4,
     "nonfinite": ["loss"]},
    {"time": 3.0, "split": "eval", "step": 10, "epoch": 1.0, "loss": 0.8, "accuracy": 0.71,
     "macro_f1": 0.66},
    {"time": 4.0, "split": "test", "step": 10, "epoch": 1.0, "loss": 0.82, "accuracy": 0.7,
     "macro_f1": 0.65},
]
RESULTS = {"eval_accuracy": 0.71, "eval_macro_f1": 0.66, "test_accuracy": 0.7,
           "test_macro_f1": 0.65, "best_epoch": 1, "trainable_params": 1234, "total_params": 9999,
           "train_runtime_s": 3.5, "collapsed": False, "label_names": ["sad", "joy"],
           "confusion_matrix": [[5, 1], [2, 7]],
           "per_class": {"sad": {"precision": 0.7, "recall": 0.8, "f1": 0.75, "support": 6}}}


def make_run(tmp_path, report_to="wandb", **status):
    config, _ = build_config([("test", {"method": "lora", "report_to": report_to,
                                        "learning_rate": 1e-3, "lora_r": 4})])
    paths = RunStore(tmp_path / "runs").create(config.method)
    paths.config.write_text(dump_config(config))
    write_status(paths, run_id=paths.run_id, state="running", **status)
    return config, paths


def test_report_to_none_is_a_null_logger(tmp_path):
    config, paths = make_run(tmp_path, report_to="none")
    assert isinstance(open_logger(config, paths), NullLogger)


def test_offline_run_logs_everything_inside_the_run_dir(tmp_path):
    config, paths = make_run(tmp_path, sweep_id="sweep-abc",
                             **status_fields({"project": "emo", "tags": ["nightly"]}))
    logger = open_logger(config, paths)
    assert isinstance(logger, WandbLogger)
    fields = logger.start()
    assert fields["wandb_run_id"] == paths.run_id  # the emotui id is the W&B id
    assert fields["wandb_mode"] == "offline" and fields["wandb_url"] is None
    assert fields["wandb_project"] == "emo"
    assert fields["wandb_dir"].startswith("wandb/offline-run-")
    assert "wandb_warning" not in fields
    for event in EVENTS:
        logger.log_event(event)
    logger.finish(RESULTS, ok=True)

    assert (paths.root / fields["wandb_dir"]).is_dir()
    [file] = list(paths.wandb.glob("offline-run-*/run-*.wandb"))
    wait_for_exit_record(file)
    [run] = read_offline_runs(paths.root)
    assert run.id == paths.run_id and run.project == "emo"
    assert run.group == "sweep-abc"  # sweep trials grouped by sweep
    assert set(run.tags) == {"nightly", "lora"}
    assert run.config["learning_rate"] == 1e-3 and run.config["lora_r"] == 4
    assert run.config["peft_method"] == "lora" and run.config[keys.LINK_KEY] == paths.run_id
    history = run.history
    assert [r["train/loss"] for r in history if "train/loss" in r][0] == 1.2
    assert any(r.get("train/loss") != r.get("train/loss") for r in history
               if "train/loss" in r)  # the diverged step is NaN, not dropped
    assert any(r.get("eval/accuracy") == 0.71 and r.get(keys.STEP_KEY) == 10 for r in history)
    assert run.summary["test/accuracy"] == 0.7
    assert run.summary["best_epoch"] == 1 and run.summary["trainable_params"] == 1234
    assert run.summary["test/per_class/sad/f1"] == 0.75
    assert run.summary["test/confusion_matrix_table"]["nrows"] == 4  # 2x2 counts
    assert run.exit_code == 0
    row = keys.record_to_row(run.to_record())
    assert row["test_accuracy"] == 0.7 and row["method"] == "lora"
    assert row["linked_run_id"] == paths.run_id


def test_a_seed_group_is_the_wandb_group(tmp_path):
    """`emotui run --seeds` runs share a status.json group: W&B groups them by it, before the
    sweep's id; a group the user chose still wins."""
    config, paths = make_run(tmp_path, sweep_id="sweep-abc", **{GROUP_FIELD: "seeds-g1"})
    logger = open_logger(config, paths)
    logger.start()
    logger.finish(RESULTS, ok=True)
    [file] = list(paths.wandb.glob("offline-run-*/run-*.wandb"))
    assert wait_for_exit_record(file).group == "seeds-g1"

    config, paths = make_run(tmp_path, **{GROUP_FIELD: "seeds-g2"},
                             **status_fields({"group": "chosen"}))
    assert WandbLogger(config, paths).settings().group == "chosen"


def test_under_a_wandb_agent_the_agents_run_id_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SWEEP_ID", "swp123")
    monkeypatch.setenv("WANDB_RUN_ID", "agentrun1")
    config, paths = make_run(tmp_path, sweep_id="team/emo/swp123")
    logger = open_logger(config, paths)
    fields = logger.start()
    logger.finish(RESULTS, ok=True)
    assert fields["wandb_run_id"] == "agentrun1"
    [file] = list(paths.wandb.glob("offline-run-*/run-agentrun1.wandb"))
    run = wait_for_exit_record(file)
    assert run.config[keys.LINK_KEY] == paths.run_id  # still linked to its run directory
    assert run.group != "team/emo/swp123"


def test_failed_run_is_marked_failed(tmp_path):
    config, paths = make_run(tmp_path)
    logger = open_logger(config, paths)
    logger.start()
    logger.log_event(EVENTS[0])
    logger.finish({}, ok=False)
    [file] = list(paths.wandb.glob("offline-run-*/run-*.wandb"))
    assert wait_for_exit_record(file).state == "failed"


def test_disabled_mode_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    config, paths = make_run(tmp_path)
    logger = open_logger(config, paths)
    assert logger.start() == {"wandb_mode": "disabled"}
    logger.log_event(EVENTS[0])
    logger.finish(RESULTS, ok=True)
    assert not paths.wandb.exists()


def test_online_without_key_falls_back_offline_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "online")
    config, paths = make_run(tmp_path)
    with caplog.at_level(logging.WARNING, logger="emotui"):
        logger = open_logger(config, paths)
        fields = logger.start()
        logger.log_event(EVENTS[0])
        logger.finish(RESULTS, ok=True)
    assert fields["wandb_mode"] == "offline"
    assert "no W&B API key" in fields["wandb_warning"]
    assert f"emotui sync {paths.run_id}" in fields["wandb_warning"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert list(paths.wandb.glob("offline-run-*/run-*.wandb"))  # kept for a later sync


def test_online_without_network_falls_back_at_once(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", closed_port_url)
    config, paths = make_run(tmp_path)
    logger = open_logger(config, paths)
    fields = logger.start()
    logger.finish(RESULTS, ok=True)
    assert fields["wandb_mode"] == "offline"
    assert "W&B unreachable" in fields["wandb_warning"]
    assert not files_containing(PLANTED_KEY, paths.root)


def test_rejected_key_falls_back_offline(tmp_path, monkeypatch):
    from wandb_standin import StandIn

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    config, paths = make_run(tmp_path)
    with StandIn({}, api_key="a-different-key") as server:  # answers 401 to our key
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        logger = open_logger(config, paths)
        fields = logger.start()
        for event in EVENTS:
            logger.log_event(event)
        logger.finish(RESULTS, ok=True)
        assert server.requests  # the online start was really tried
    assert fields["wandb_mode"] == "offline"
    assert "W&B rejected the API key" in fields["wandb_warning"]
    assert fields["wandb_run_id"] == f"{paths.run_id}-offline"
    [file] = list(paths.wandb.glob("offline-run-*/run-*-offline.wandb"))
    run = wait_for_exit_record(file)
    assert run.summary["test/accuracy"] == 0.7
    assert run.config[keys.LINK_KEY] == paths.run_id
    assert not files_containing(PLANTED_KEY, paths.root)


def test_reachability_goes_through_a_configured_proxy(monkeypatch, closed_port_url):
    from emotui.tracking.settings import reachable

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", closed_port_url)
    problem = reachable("https://api.example.invalid", timeout=2)
    port = closed_port_url.rsplit(":", 1)[1]
    assert problem is not None and f"127.0.0.1:{port}" in problem  # the proxy was tried


def test_a_broken_wandb_never_raises(tmp_path, monkeypatch, caplog):
    import wandb

    def explode(*args, **kwargs):
        raise RuntimeError("simulated W&B failure\nwith a second line")

    monkeypatch.setattr(wandb, "init", explode)
    config, paths = make_run(tmp_path)
    logger = open_logger(config, paths)
    with caplog.at_level(logging.WARNING, logger="emotui"):
        fields = logger.start()
        for event in EVENTS:
            logger.log_event(event)
        logger.finish(RESULTS, ok=True)
    assert "simulated W&B failure with a second line" in fields["wandb_warning"]
    assert "training goes on" in fields["wandb_warning"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_a_failing_log_call_disables_wandb_once(tmp_path, caplog):
    config, paths = make_run(tmp_path)
    logger = open_logger(config, paths)
    logger.start()

    class Broken:
        def log(self, row):
            raise ConnectionError("rate limited (429)")

        def finish(self, exit_code=0):
            pass

    logger.run = Broken()
    with caplog.at_level(logging.WARNING, logger="emotui"):
        for event in EVENTS:
            logger.log_event(event)
        logger.finish(RESULTS, ok=True)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert messages == ["W&B logging stopped: rate limited (429); local logging continues"]


# -- settings ------------------------------------------------------------------------------------


def test_settings_precedence(tmp_path, monkeypatch, wandb_sandbox):
    user_config = wandb_sandbox / ".config" / "emotui" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("wandb:\n  entity: user-team\n  project: from-user\n  tags: [a, b]\n")
    assert resolve().entity == "user-team" and resolve().project == "from-user"
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    assert resolve().project == "from-env" and resolve().tags == ["a", "b"]
    assert resolve({"project": "from-run"}).project == "from-run"
    assert resolve().entity == "user-team"


def test_run_choices_from_flags_and_config_section():
    import argparse

    args = argparse.Namespace(wandb_project="flagged", wandb_entity=None, wandb_group=None,
                              wandb_tags="x, y", wandb_mode=None)
    sections = {"wandb": {"project": "file", "group": "g1", "mode": "offline"}}
    choices = wandb_run_choices(args, sections)
    assert choices == {"project": "flagged", "group": "g1", "mode": "offline", "tags": ["x", "y"]}
    assert status_fields(choices) == {STATUS_KEY: choices}
    assert status_fields({}) == {}


@pytest.mark.parametrize("key", ["api_key", "key", "API-KEY"])
def test_key_in_a_config_section_is_refused(key):
    with pytest.raises(ConfigError, match="does not take the W&B API key from files"):
        clean_section({key: PLANTED_KEY}, "--config run.yaml")


def test_unknown_setting_and_bad_mode_are_refused():
    with pytest.raises(ConfigError, match="unknown W&B setting 'projcet'"):
        clean_section({"projcet": "x"}, "--config")
    with pytest.raises(ConfigError, match="mode"):
        clean_section({"mode": "sometimes"}, "--config")
