"""Output for scripts and for people: piped, every value whole (TSV, machine units); on a
terminal of 160 or 80 columns, tables in human units that never split a value."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from cli_store import RUNS, SWEEP_ID, build_cli_store

from emotui.core import methods

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def store(cli):
    return build_cli_store(cli.runs_dir)


@pytest.fixture
def terminal(monkeypatch):
    """Make Rich see a terminal of the given width (as in a real one, not a pipe)."""
    def at(width: int) -> None:
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", str(width))
    return at


def tsv_rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_ls_piped_holds_every_full_run_id(cli, store):
    result = cli("ls")
    assert result.code == 0, result.err
    rows = tsv_rows(result.out)
    assert [r["run_id"] for r in rows] == sorted(RUNS)
    header = result.out.splitlines()[0].split("\t")
    assert len(header) == len(set(header)) and header.count("method") == 1
    for line in result.out.splitlines():
        assert line.count("\t") == len(header) - 1  # one field per column, every line
    by_id = {r["run_id"]: r for r in rows}
    done = by_id["261120-091500-full-ab2c"]
    assert done["test_accuracy"] == "0.925"  # machines get fractions
    assert done["elapsed_s"] == "252.4"  # and seconds
    failed = by_id["261121-101500-full-jk6m"]
    assert failed["reason"] == RUNS["261121-101500-full-jk6m"][3]["reason"]  # whole


def test_ls_piped_elapsed_and_eta_count(cli, store):
    running = tsv_rows(cli("ls").out)[2]
    assert running["status"] == "running"
    # Measured 42 s / 98 s one second before the store was written: elapsed counts up, the
    # ETA down.
    assert float(running["elapsed_s"]) >= 43.0
    assert float(running["eta_s"]) <= 97.0


def test_ls_json_is_one_document(cli, store):
    result = cli("ls", "--json")
    rows = json.loads(result.out)
    assert {r["run_id"] for r in rows} == set(RUNS)
    assert all(isinstance(r["eval_accuracy"], (float, type(None))) for r in rows)


def test_ls_empty_state_filter_names_the_state(cli, store):
    result = cli("ls", "--state", "preempted")
    assert result.code == 0 and result.out == ""
    assert "no preempted runs" in result.err


def test_ls_bad_state_is_refused(cli, store):
    result = cli("ls", "--state", "bogus")
    assert result.code == 2 and "bogus" in result.err


def test_show_piped_lines_hold_whole_values(cli, store):
    result = cli("show", "jk6m")
    assert result.code == 0, result.err
    values = dict(line.split("\t", 1) for line in result.out.splitlines())
    assert values["run_id"] == "261121-101500-full-jk6m"
    assert values["reason"] == RUNS["261121-101500-full-jk6m"][3]["reason"]
    assert values["config.model_name_or_path"] == "fixture/encoder"
    done = dict(line.split("\t", 1) for line in cli("show", "ab2c").out.splitlines())
    assert done["results.trainable_params"] == "22715526"
    assert done["results.test_accuracy"] == "0.925"


def test_show_json_is_one_document(cli, store):
    payload = json.loads(cli("show", "ef4g", "--json").out)
    assert payload["run_id"] == "261121-081500-ptext-ef4g" and payload["eta_s"] <= 97.0


def test_show_terminal_has_elapsed_and_eta(cli, store, terminal):
    terminal(100)
    out = plain(cli("show", "ef4g").out)
    assert re.search(r"elapsed \d+s", out) and re.search(r"ETA 1m3\ds", out)
    assert "step 120/400" in out and "epoch 1.2/5" in out


def test_show_terminal_config_holds_whole_settings_of_the_method(cli, store, terminal):
    terminal(80)
    out = plain(cli("show", "ef4g").out)  # text-init prompt tuning
    config = out[out.index("config: "):out.index("run dir:")]
    lines = config.splitlines()
    assert len(lines) > 3 and all(len(line) <= 80 for line in lines)
    settings = " ".join(lines)[len("config: "):].split(", ")
    # Each line ends at a setting's end: "key=value" items are never split.
    assert all(line.endswith(",") for line in lines[:-1])
    keys = [item.split("=")[0] for item in settings]
    assert "prompt_tuning_init_text" in keys and "learning_rate" in keys
    others = {f for f in methods.owned_fields() if not methods.applies(f, "prompt_tuning_text")}
    assert others and not others & set(keys)  # no other method's settings


def test_show_config_marks_method_defaults():
    from emotui.cli.render import config_lines

    config = {"method": "lora", "lora_r": 8, "prompt_tuning_num_virtual_tokens": 20,
              "learning_rate": 0.002, "method_defaults": ["learning_rate"]}
    assert config_lines(config, 30) == ["config: lora_r=8,", "learning_rate=0.002 (method default)"]


def test_compare_csv_has_one_method_column(cli, store):
    result = cli("compare", "--format", "csv")
    header = next(csv.reader(io.StringIO(result.out)))
    assert header.count("method") == 1
    explicit = cli("compare", "--format", "csv", "--columns", "run_id,method,method")
    assert next(csv.reader(io.StringIO(explicit.out))) == ["run_id", "method"]


def test_compare_piped_table_is_tsv_with_whole_values(cli, store):
    result = cli("compare", "--format", "table")
    rows = tsv_rows(result.out)
    assert {r["run_id"] for r in rows} == set(RUNS)
    full = next(r for r in rows if r["run_id"] == "261120-091500-full-ab2c")
    assert full["trainable_params"] == "22715526" and full["test_accuracy"] == "0.925"
    assert result.out.splitlines()[0].split("\t").count("method") == 1


def test_compare_json_is_one_document(cli, store):
    rows = json.loads(cli("compare", "--format", "json").out)
    assert len(rows) == len(RUNS)


def test_sweep_status_piped(cli, store):
    result = cli("sweep", "status", SWEEP_ID)
    assert result.code == 0, result.err
    assert result.out.startswith(f"# sweep {SWEEP_ID}")
    rows = tsv_rows(result.out)
    assert [r["run_id"] for r in rows] == ["261120-101500-lora-cd3e", "261121-111500-lora-mn7p"]
    assert rows[0]["value"] == "0.9255" and rows[0]["test_accuracy"] == "0.9215"
    listed = tsv_rows(cli("sweep", "ls").out)
    assert listed[0]["sweep_id"] == SWEEP_ID and listed[0]["best_run"] == rows[0]["run_id"]


def test_sweep_status_json_is_one_document(cli, store):
    assert json.loads(cli("sweep", "status", SWEEP_ID, "--json").out)["sweep_id"] == SWEEP_ID


# Terminal tables: every value that is shown is shown whole, and no line is wider than the
# terminal. What a narrow terminal cannot hold is a whole column left out, and named.

WHOLE_VALUES = {
    "ls": ["261120-091500-full-ab2c", "261121-081500-ptext-ef4g", "92.50%", "92.15%", "4m12s",
           "completed", "cancelled", "running"],
    "compare": ["261120-091500-full-ab2c", "92.50%", "92.15%", "92.90%", "22.7M", "890.1k",
                "91.6 MB", "3.6 MB", "4m12s", "41s", "1441", "2e-05"],
    "sweep status": ["261120-101500-lora-cd3e", "92.55%", "92.15%", "0.001", "0.0005"],
}


def shown_columns(out: str, headers: dict[str, list[str]]) -> list[str]:
    header_line = plain(out).splitlines()[0]
    return [name for name in headers if name in header_line]


@pytest.mark.parametrize("width", [160, 80])
@pytest.mark.parametrize("command", ["ls", "compare", "sweep status"])
def test_terminal_tables_never_split_a_value(cli, store, terminal, command, width):
    terminal(width)
    argv = command.split() + ([SWEEP_ID] if command == "sweep status" else [])
    result = cli(*argv)
    assert result.code == 0, result.err
    out = plain(result.out)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    hidden = next((line for line in lines if line.startswith("hidden at")), "")
    for value in WHOLE_VALUES[command]:
        if value in out:
            continue
        # Not shown: only because its whole column was left out (and named).
        assert hidden, f"{value!r} missing at {width} columns:\n{out}"
    for fragment in ("2271552", "22715526"):
        assert fragment not in out  # people read 22.7M
    if width == 160:
        assert not hidden, out
        for value in WHOLE_VALUES[command]:
            assert value in out, (value, out)
    assert "…" not in "".join(line for line in lines if "%" in line and "reason" not in line)


def test_terminal_ls_at_80_keeps_what_matters(cli, store, terminal):
    terminal(80)
    out = plain(cli("ls").out)
    header = out.splitlines()[0]
    # By importance: the accuracies and the reason stay, times and the backend go first.
    for name in ("run", "state", "method", "eval acc", "test acc", "reason"):
        assert name in header
    assert "elapsed" not in header and "backend" not in header
    for run_id in RUNS:
        assert run_id in out
    assert "hidden at 80 columns:" in out


@pytest.mark.parametrize("argv", [["cancel", "ab2c", "--json"], ["sweep", "ls", "--json"],
                                  ["ls", "--state", "failed", "--json"]])
def test_json_commands_print_one_document(cli, store, argv):
    result = cli(*argv)
    assert result.code == 0, result.err
    json.loads(result.out)  # the whole of stdout is one document


def test_compare_table_to_a_file_is_tsv(cli, store, tmp_path):
    out = tmp_path / "compare.tsv"
    assert cli("compare", "-o", str(out)).code == 0
    rows = tsv_rows(out.read_text())
    assert {r["run_id"] for r in rows} == set(RUNS)
