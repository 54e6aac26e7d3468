"""The bad-input corpus: every case is refused before a run exists. Each case is a command line
(plus the files it needs) and the phrase its one line must hold; one parametrised test checks
them all alike: exit code 2, one line `emotui: error: ...` on stderr holding the phrase, no
traceback, and nothing new in the run store.

Cases that need a model use small stand-in folders (config.json, weights and tokenizer files by
name only): every case must be refused before anything loads them.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from bad_input_helpers import assert_clean_refusal, store_entries, write_jsonl
from core.corrupt_store import write_good_run

from emotui.core.runstore import RUNS_DIR_ENV, RunStore
from emotui.launch import backend_names

ROBERTA = {"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1,
           "hidden_size": 32}
BERT = {"model_type": "bert", "max_position_embeddings": 512, "pad_token_id": 0,
        "hidden_size": 32}
EXISTING_RUN = "250101-000000-lora-good"


def rows(n: int = 8, labels=(0, 1), **override) -> list[dict]:
    return [{"text": f"i feel something {i}", "label": labels[i % len(labels)], **override}
            for i in range(n)]


class Case:
    """One bad input: ``build(ctx)`` writes what it needs and returns the argv."""

    def __init__(self, case_id: str, build: Callable[["Ctx"], list[str]] | list[str],
                 phrase: str):
        self.id = case_id
        self.build = build if callable(build) else (lambda ctx, argv=build: list(argv))
        self.phrase = phrase


@dataclass
class Ctx:
    tmp: Path
    runs_dir: Path
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def jsonl(self, name: str, data: list[dict]) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(write_jsonl(path, data))

    def data(self, train=None, validation=None, test=None) -> list[str]:
        """--train_file/--validation_file/--test_file of good files, or the given ones (a list
        of rows, or a path already written)."""
        out = []
        for split, given in (("train", train), ("validation", validation), ("test", test)):
            path = given if isinstance(given, str) else self.jsonl(f"{split}.jsonl",
                                                                   given or rows())
            out += [f"--{split}_file", path]
        return out

    def model(self, name: str = "model", config: dict | str | None = None, *,
              tokenizer: bool = True, weights: bool = True) -> str:
        folder = self.tmp / name
        folder.mkdir(parents=True)
        if config is not None:
            text = config if isinstance(config, str) else json.dumps(config)
            (folder / "config.json").write_text(text)
        if weights:
            (folder / "model.safetensors").write_bytes(b"stand-in")
        if tokenizer:
            (folder / "tokenizer.json").write_text("{}")
        return str(folder)

    def existing_run(self) -> str:
        return write_good_run(RunStore(self.runs_dir), EXISTING_RUN).run_id

    def store_is_a_file(self) -> None:
        self.runs_dir = Path(self.file("store-file", "not a folder"))

    def deny_writes_under(self, root: Path, code: int, text: str) -> None:
        """Writing under root fails as on a read-only or foreign folder (the tests run as
        root, whom permissions do not stop)."""
        real = Path.mkdir

        def mkdir(path: Path, *args, **kwargs):
            if Path(path).absolute().is_relative_to(root):
                raise OSError(code, text, str(path)) if code != errno.EACCES \
                    else PermissionError(code, text, str(path))
            return real(path, *args, **kwargs)

        self.monkeypatch.setattr(Path, "mkdir", mkdir)


def _label_column_is_text(ctx: Ctx) -> list[str]:
    # 2,600 distinct texts of ~600 characters (1.5 MB): the label column named as the text.
    long = [{"text": f"{i:05d} " + "i feel a long feeling " * 27, "label": i % 2}
            for i in range(2600)]
    return ["run", *ctx.data(train=long), "--label_column_name", "text"]


def _unwritable_cwd(ctx: Ctx) -> list[str]:
    cwd = ctx.tmp / "cwd"
    cwd.mkdir()
    ctx.monkeypatch.chdir(cwd)
    ctx.monkeypatch.delenv(RUNS_DIR_ENV, raising=False)
    ctx.runs_dir = cwd / "runs"
    ctx.deny_writes_under(cwd, errno.EACCES, "Permission denied")
    return ["run", "--runs-dir", ""]  # the default store, ./runs


def _read_only_store(ctx: Ctx) -> list[str]:
    ctx.deny_writes_under(ctx.runs_dir, errno.EROFS, "Read-only file system")
    return ["run"]


def _store_is_a_file(argv: list[str]) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        ctx.store_is_a_file()
        return [a.replace("{sweep}", ctx.file("s.yaml", GRID)) for a in argv]
    return build


def _sweep(text: str, *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ["sweep", ctx.file("s.yaml", text), *extra]


def _with_run(*argv: str) -> Callable[[Ctx], list[str]]:
    def build(ctx: Ctx) -> list[str]:
        run_id = ctx.existing_run()
        return [a.replace("{run}", run_id).replace("{tmp}", str(ctx.tmp)) for a in argv]
    return build


GRID = "method: grid\nparameters:\n  learning_rate: {values: [1.0e-3, 1.0e-4]}\n"
BINARY = bytes(range(256)) + b"\x00\xff\xfe"

CASES = [
    # -- flags and their values (class 6: one formatter names the option and its choices) ----
    Case("lerning-rate", ["run", "--lerning_rate", "1e-4"], "did you mean --learning_rate"),
    Case("nosuchcommand", ["nosuchcommand"], "unknown command 'nosuchcommand'"),
    Case("command-typo", ["ru"], "unknown command 'ru'; did you mean 'run'?"),
    Case("backend-bogus", ["run", "--backend", "bogus"],
         f"--backend: unknown choice 'bogus'; choose one of: {', '.join(backend_names())}"),
    Case("backend-no-value", ["run", "--backend"], "--backend needs a value"),
    Case("compare-format", ["compare", "--format", "xyz"],
         "--format: unknown choice 'xyz'; choose one of: table"),
    Case("wandb-mode", ["run", "--wandb-mode", "bogus"],
         "must be one of: online, offline, disabled; got 'bogus'"),
    Case("ls-state", ["ls", "--state", "bogus"],
         "--state: unknown choice 'bogus'; choose one of: queued, running"),
    Case("sweep-backend", ["sweep", "s.yaml", "--backend", "bogus"],
         "--backend: unknown choice 'bogus'"),
    Case("sweep-controller", ["sweep", "s.yaml", "--controller", "agent"],
         "--controller: unknown choice 'agent'; choose one of: offline, wandb"),
    Case("sweep-max-parallel-text", ["sweep", "s.yaml", "--max-parallel", "x"],
         "--max-parallel: 'x' is not an integer"),
    Case("sweep-count-zero", ["sweep", "s.yaml", "--count", "0"], "--count must be >= 1"),
    Case("backend-value-cut-short", ["run", "--backend", "x" * 5000], "unknown choice 'xxxx"),
    Case("compare-filter-unparsable", ["compare", "--filter", "(("], "is not COLUMN OP VALUE"),
    Case("compare-filter-unknown", _with_run("compare", "--filter", "foo=1"),
         "filter: unknown column 'foo'"),
    Case("compare-sort-unknown", _with_run("compare", "--sort", "nosuch"),
         "--sort: unknown column 'nosuch'"),
    Case("compare-sort-typo", _with_run("compare", "--sort", "-test_acuracy"),
         "--sort: unknown column 'test_acuracy'; did you mean 'test_accuracy'?"),
    Case("compare-columns-unknown", _with_run("compare", "--columns", "run_id,nosuch"),
         "--columns: unknown column(s) nosuch"),
    # -- values the config schema refuses ----------------------------------------------------
    Case("learning-rate-text", ["run", "--learning_rate", "fast"],
         "learning_rate (from command line) must be a number"),
    Case("learning-rate-negative", ["run", "--learning_rate", "-1"], "must be > 0"),
    Case("batch-size-zero", ["run", "--per_device_train_batch_size", "0"], "must be >= 1"),
    Case("epochs-zero", ["run", "--num_train_epochs", "0"], "must be > 0"),
    Case("max-seq-length-zero", ["run", "--max_seq_length", "0"], "must be >= 1"),
    Case("lora-dropout", ["run", "--peft_method", "lora", "--lora_dropout", "1.5"],
         "must be < 1"),
    Case("peft-method-unknown", ["run", "--peft_method", "adapters"],
         "peft_method (from command line) must be one of"),
    Case("method-unknown", ["run", "--method", "qlora"],
         "method (from command line) must be one of"),
    Case("init-text-empty",
         ["run", "--peft_method", "prompt_tuning", "--prompt_tuning_init_text", ""], "is empty"),
    Case("init-text-wrong-method", ["run", "--prompt_tuning_init_text", "classify"],
         "applies to prompt_tuning_text"),
    Case("seed-negative", ["run", "--seed", "-1"], "seed (from command line) must be >= 0"),
    Case("seed-too-large", ["run", "--seed", "4294967296"], "must be <= 4294967295"),
    Case("seed-text", ["run", "--seed", "abc"], "seed (from command line) must be an integer"),
    Case("method-contradicts-peft", ["run", "--method", "lora", "--peft_method",
                                     "prompt_tuning"], "contradict each other"),
    Case("method-full-with-peft", ["run", "--method", "full", "--peft_method", "lora"],
         "contradict each other"),
    Case("random-prompt-with-text", ["run", "--method", "prompt-random",
                                     "--prompt_tuning_init_text", "hi"],
         "contradicts method prompt-random"),
    Case("bf16-and-fp16", ["run", "--bf16", "true", "--fp16", "true"], "both set"),
    Case("eval-steps-missing", ["run", "--eval_strategy", "steps"], "needs --eval_steps N"),
    Case("nothing-to-do", ["run", "--do_train", "false", "--do_eval", "false",
                           "--do_predict", "false"], "nothing to do"),
    Case("lora-targets-empty", ["run", "--peft_method", "lora", "--lora_target_modules", ","],
         "lora_target_modules is empty"),
    Case("lora-init-unknown", ["run", "--method", "lora", "--init_lora_weights", "loftq"],
         "init_lora_weights (from command line) must be one of"),
    Case("lora-orthogonal-odd-rank", ["run", "--method", "lora", "--init_lora_weights",
                                      "orthogonal", "--lora_r", "7"],
         "init_lora_weights orthogonal needs an even lora_r, got 7; give --lora_r 8"),
    Case("model-folder-missing", ["run", "--model_name_or_path", "./no/such/model"],
         "does not exist"),
    Case("train-file-missing", ["run", "--train_file", "/nonexistent/train.jsonl"],
         "does not exist"),
    Case("train-file-is-a-folder", ["run", "--train_file", "/"], "is not a file"),
    Case("validation-without-train", lambda c: [
        "run", "--validation_file", c.jsonl("v.jsonl", rows())], "without --train_file"),
    # -- --config files ----------------------------------------------------------------------
    Case("config-malformed", lambda c: ["run", "--config", c.file("bad.yaml",
                                                                  "learning_rate: [1e-4\n")],
         "not valid YAML at line"),
    Case("config-unknown-key", lambda c: ["run", "--config", c.file("typo.yaml", "lora_rank: 8\n")],
         "did you mean 'lora_r'"),
    Case("config-a-list", lambda c: ["run", "--config", c.file("list.yaml", "- 1\n- 2\n")],
         "must hold a mapping of settings"),
    Case("config-binary", lambda c: ["run", "--config", c.file("bin.yaml", BINARY)],
         "is not UTF-8 text"),
    # -- the model, checked before the run exists (class 5) ----------------------------------
    Case("max-seq-length-beyond-roberta", lambda c: [
        "run", "--model_name_or_path", c.model(config=ROBERTA), "--max_seq_length", "600"],
         "is more than model"),
    Case("max-seq-length-beyond-bert", lambda c: [
        "run", "--model_name_or_path", c.model(config=BERT), "--max_seq_length", "513"],
         "(512 tokens"),
    Case("model-without-tokenizer", lambda c: [
        "run", "--model_name_or_path", c.model(config=BERT, tokenizer=False)],
         "has no tokenizer files"),
    Case("tokenizer-folder-without-tokenizer", lambda c: [
        "run", "--model_name_or_path", c.model(config=BERT, tokenizer=False),
        "--tokenizer_name", c.model("tok", config=None, tokenizer=False, weights=False)],
         "tokenizer folder"),
    Case("model-without-config", lambda c: ["run", "--model_name_or_path", c.model()],
         "has no config.json"),
    Case("model-config-not-json", lambda c: [
        "run", "--model_name_or_path", c.model(config="{not json")], "cannot be read as JSON"),
    Case("model-without-weights", lambda c: [
        "run", "--model_name_or_path", c.model(config=BERT, weights=False)], "has no weights"),
    # -- the data, read before the run exists (class 5) --------------------------------------
    Case("single-class", lambda c: ["run", *c.data(train=rows(labels=(0,)))],
         "has a single label"),
    Case("text-all-null", lambda c: ["run", *c.data(train=rows(text=None))],
         "is empty in every row"),
    Case("text-all-empty", lambda c: ["run", *c.data(train=rows(text=""))],
         "is empty in every row"),
    Case("label-column-is-text", _label_column_is_text, "distinct values"),
    Case("text-column-missing", lambda c: ["run", *c.data(
        train=[{"sentence": "hi", "label": i % 2} for i in range(4)])], "no text column 'text'"),
    Case("label-column-missing", lambda c: ["run", *c.data(
        train=[{"text": "hi", "emotion": i % 2} for i in range(4)])], "no label column 'label'"),
    Case("labels-unseen-in-train", lambda c: ["run", *c.data(
        test=[{"text": "hello", "label": 9}])], "labels not in the training data: 9"),
    Case("label-fraction", lambda c: ["run", *c.data(train=rows(labels=(0.5, 1)))],
         "regression is not supported"),
    Case("label-a-list", lambda c: ["run", *c.data(train=rows(labels=([1], 0)))],
         "use an integer or a name"),
    Case("labels-mixed", lambda c: ["run", *c.data(train=rows(labels=(0, "joy")))],
         "mix numbers and names"),
    Case("validation-empty", lambda c: ["run", *c.data(validation=c.file("v.jsonl", ""))],
         "has no rows"),
    Case("jsonl-not-json", lambda c: ["run", *c.data(train=c.file("t.jsonl", "{oops\n"))],
         "line 1 is not valid JSON"),
    Case("jsonl-line-a-list", lambda c: ["run", *c.data(train=c.file("t.jsonl", "[1, 2]\n"))],
         "line 1 is not a JSON object"),
    Case("json-not-records", lambda c: ["run", *c.data(train=c.file("t.json", '{"a": 1}'))],
         "is not a list of records"),
    Case("train-file-binary", lambda c: ["run", *c.data(train=c.file("t.jsonl", BINARY))],
         "is not UTF-8 text"),
    Case("train-file-type", lambda c: ["run", *c.data(train=c.file("t.xlsx", "x"))],
         "unsupported file type '.xlsx'"),
    Case("kaggle-txt-without-label", lambda c: ["run", *c.data(
        train=c.file("t.txt", "no label here\n"))], "has no ';'"),
    Case("parquet-damaged", lambda c: ["run", *c.data(train=c.file("t.parquet", BINARY))],
         "is not a readable parquet file"),
    Case("data-dir-without-train", lambda c: ["run", "--data_dir", str(Path(
        c.file("d/validation.jsonl", "")).parent)], "has no training file"),
    # -- runs and files named on the command line ----------------------------------------------
    Case("show-unknown", ["show", "nosuchrun"], "no run 'nosuchrun'"),
    Case("show-traversal", ["show", "../../etc"], "not a valid run id"),
    Case("logs-traversal", ["logs", "../x"], "not a valid run id"),
    Case("cancel-unknown", ["cancel", "nosuchrun"], "no run 'nosuchrun'"),
    Case("resume-with-flags", _with_run("run", "--resume", "{run}", "--learning_rate", "1"),
         "--resume continues a run with its saved config"),
    Case("predict-binary-file", _with_run("predict", "{run}", "--file", "{tmp}/bin.txt"),
         "is not UTF-8 text"),
    Case("predict-folder", _with_run("predict", "{run}", "--file", "{tmp}"), "cannot be read"),
    Case("predict-nothing", _with_run("predict", "{run}"), "no texts to classify"),
    # -- sweep files -------------------------------------------------------------------------
    Case("sweep-value-out-of-range", _sweep(
        "method: grid\nparameters:\n  learning_rate: {values: [-1]}\n"), "must be > 0"),
    Case("sweep-set-seed", _sweep(GRID, "--set", "seed=-1"), "seed (from --set) must be >= 0"),
    Case("sweep-seed-unbounded", _sweep(
        "method: random\nrun_cap: 2\nparameters:\n"
        "  seed: {distribution: q_normal, mu: 100, sigma: 10, q: 1}\n"),
         "can give seed = -inf but seed must be >= 0"),
    Case("sweep-unknown-parameter", _sweep(
        "method: grid\nparameters:\n  lerning_rate: {values: [1]}\n"), "unknown setting"),
    Case("sweep-secret", _sweep("method: grid\nparameters:\n  hub_token: {value: abc}\n"),
         "secrets cannot be swept or stored"),
    Case("sweep-file-binary", lambda c: ["sweep", c.file("s.yaml", BINARY)],
         "is not UTF-8 text"),
    Case("sweep-method-contradiction", _sweep(
        "method: grid\nparameters:\n  method: {value: lora}\n"
        "  peft_method: {value: prompt_tuning}\n"), "contradict each other"),
    # -- the run store itself ----------------------------------------------------------------
    Case("store-is-a-file-run", _store_is_a_file(["run"]), "is a file, not a folder"),
    Case("store-is-a-file-ls", _store_is_a_file(["ls"]), "is a file, not a folder"),
    Case("store-is-a-file-sweep", _store_is_a_file(["sweep", "{sweep}"]),
         "is a file, not a folder"),
    Case("store-read-only", _read_only_store, "is on a read-only filesystem"),
    Case("working-directory-unwritable", _unwritable_cwd, "permission denied"),
]


def test_the_corpus_is_large_and_its_ids_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_before_a_run_exists(cli, tmp_path, monkeypatch, case):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ctx = Ctx(tmp=tmp_path / "case", runs_dir=cli.runs_dir, monkeypatch=monkeypatch)
    ctx.tmp.mkdir()
    if case.id == "predict-binary-file":
        ctx.file("bin.txt", BINARY)
    argv = case.build(ctx)
    before = store_entries(ctx.runs_dir)
    result = cli(*argv, runs_dir=ctx.runs_dir)
    assert_clean_refusal(result, ctx.runs_dir, case.phrase, before)
    assert result.out == ""  # no run id printed, nothing listed
    assert len(result.err) < 1200  # a value quoted whole (a text column) is cut short


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    from emotui.core.config import build_config
    from emotui.train.data import load_splits

    files = {}
    for split in ("train", "validation", "test"):
        path = tmp_path / f"{split}.csv"
        path.write_bytes("\ufefftext,label\ni feel fine,joy\ni feel bad,sadness\n"
                         .encode("utf-8"))
        files[f"{split}_file"] = str(path)
    config, _ = build_config([("test", files)])
    data = load_splits(config)
    assert data.splits["train"].texts == ["i feel fine", "i feel bad"]


def test_model_and_data_checks_load_no_heavy_package(tmp_path):
    """The checks against a model folder and data files read JSON, CSV and parquet only."""
    import subprocess
    import sys

    train = tmp_path / "train.jsonl"
    write_jsonl(train, rows(labels=(0,)))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(BERT))
    (model / "model.safetensors").write_bytes(b"stand-in")
    (model / "tokenizer.json").write_text("{}")
    code = (
        "import sys\n"
        "from emotui.cli.main import main\n"
        f"code = main(['run', '--runs-dir', {str(tmp_path / 'runs')!r}, '--model_name_or_path',"
        f" {str(model)!r}, '--train_file', {str(train)!r}])\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]\n"
        "print(code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "2 []", done.stdout + done.stderr
    assert "has a single label" in done.stderr
