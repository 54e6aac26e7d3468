"""`emotui export` on the tiny model: what plain transformers (+ peft for an adapter) loads from
the exported folder predicts what `emotui predict` predicts, with the run's label names; the
model card holds the lines that load it, and they work; a refused or failed export leaves
nothing behind."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys

import pytest
from toy_runs import new_run, toy_config, toy_settings

from emotui.core import methods
from emotui.core.errors import ConfigError, EmotuiError
from emotui.train import predict, train
from emotui.train.export import ExportFailed, export_run
from emotui.train.export_plan import MARKER

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def default_kind(spec) -> str:
    """What an export with merged=None writes for a method of the registry."""
    return "full" if spec.peft_method is None else "merged" if spec.mergeable else "adapter"


# run -> (settings, the kind an export with merged=None writes): every registered method, and
# LoRA options that change what merging folds in.
RUNS = {
    **{m.name: (toy_settings(m), default_kind(m)) for m in methods.METHODS},
    "dora": (toy_settings(methods.get("lora"), use_dora=True), "merged"),
    # The adapter trained against a base with its principal part taken out (rebuilt on load).
    "pissa": (toy_settings(methods.get("lora"), init_lora_weights="pissa"), "merged"),
}
MERGED = [name for name, (_, kind) in RUNS.items() if kind == "merged"]
LONG_TEXT = "i feel so happy and glad " * 40  # far beyond max_seq_length: cut the same way


@pytest.fixture(scope="module")
def hub_like_base(tiny_model_dir, tmp_path_factory):
    """The tiny encoder with a config that knows no labels (two, as roberta-base's): whatever
    loads an adapter onto it must bring the run's six labels."""
    base = tmp_path_factory.mktemp("base") / "encoder"
    shutil.copytree(tiny_model_dir, base)
    config = json.loads((base / "config.json").read_text())
    for key in ("id2label", "label2id", "num_labels"):
        config.pop(key, None)
    # As many Hub configs say (all-MiniLM-L6-v2's): transformers 5 loads such a base in half
    # precision unless told otherwise, and an adapter's card must load it as it was trained.
    config["dtype"] = "float16"
    (base / "config.json").write_text(json.dumps(config))
    return base


@pytest.fixture(scope="module")
def runs(hub_like_base, toy_data_dir, tmp_path_factory):
    """One completed run per case of RUNS (two epochs each), trained on first use."""
    store = tmp_path_factory.mktemp("runs")
    made = {}

    def get(name):
        if name not in made:
            config = toy_config(hub_like_base, toy_data_dir, num_train_epochs=2,
                                max_seq_length=32, **RUNS[name][0])
            paths = new_run(store, config)
            train(config, paths.root)
            made[name] = paths
        return made[name]

    return get


def sample_texts(paths) -> list[str]:
    rows = [json.loads(line) for line in paths.predictions.read_text().splitlines()]
    return [r["text"] for r in rows[:20]] + [LONG_TEXT]


def assert_same_predictions(pipeline_rows, expected) -> None:
    assert len(pipeline_rows) == len(expected)
    for row, want in zip(pipeline_rows, expected):
        scores = {item["label"]: item["score"] for item in row}
        assert set(scores) == set(LABELS)  # the run's label names, not LABEL_0 ...
        assert max(scores, key=scores.get) == want["label"]
        for name in LABELS:
            assert scores[name] == pytest.approx(want["probabilities"][name], abs=1e-4)


def plain_transformers(folder):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, truncation=True)


def plain_peft(folder):
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    # dtype as the model card says: the base's config names float16 (hub_like_base).
    model = AutoPeftModelForSequenceClassification.from_pretrained(
        folder, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
        dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, truncation=True)


def card_code(folder) -> str:
    card = (folder / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert len(blocks) == 1, card
    return blocks[0]


def run_card_code(folder) -> dict:
    """Run the card's lines as a user would paste them; returns their variables."""
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(card_code(folder), scope)  # noqa: S102
    assert "'label':" in printed.getvalue()  # the example's scores were printed
    return scope


@pytest.mark.parametrize("name", [*MERGED, "prompt_tuning_text"])
def test_round_trip_through_plain_transformers(name, runs):
    """The acceptance test: plain transformers (merged LoRA, IA3, ...) or transformers + peft
    (prompt tuning, which cannot merge) predict from the folder what emotui predict does."""
    paths = runs(name)
    result = export_run(paths, None, None, force=True)
    assert result.kind == RUNS[name][1]
    assert result.out == paths.root / "export"
    texts = sample_texts(paths)
    expected = predict(paths.root, texts)
    classify = plain_peft(result.out) if result.kind == "adapter" \
        else plain_transformers(result.out)
    assert_same_predictions(classify(texts, top_k=None), expected)
    if result.kind == "merged":
        # A plain model: the pipeline takes the folder's name alone.
        from transformers import pipeline

        by_name = pipeline("text-classification", model=str(result.out), truncation=True)
        assert_same_predictions(by_name(texts, top_k=None), expected)


@pytest.mark.parametrize("name", list(RUNS))
def test_model_card_lines_load_it(name, runs):
    """The lines README.md gives load the folder and predict what emotui predict does (for
    prefix tuning they include what PEFT needs to hand a transformers 5 encoder its prefixes)."""
    paths = runs(name)
    result = export_run(paths, None, None, force=True)
    scope = run_card_code(result.out)
    texts = sample_texts(paths)
    assert_same_predictions(scope["classify"](texts, top_k=None), predict(paths.root, texts))
    assert result.checked_texts == 32 and result.max_difference < 1e-5


def test_merged_folder_is_a_plain_model(runs):
    paths = runs("lora")
    result = export_run(paths, None, None, force=True)
    names = set(result.files)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "README.md", MARKER} <= names
    assert not any(n.startswith("adapter_") for n in names)
    config = json.loads((result.out / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(LABELS)}
    assert config["label2id"] == {n: i for i, n in enumerate(LABELS)}
    assert config["architectures"] == ["RobertaForSequenceClassification"]
    from safetensors.torch import load_file

    keys = load_file(str(result.out / "model.safetensors")).keys()
    assert not [k for k in keys if "lora_" in k or "modules_to_save" in k]
    tokenizer_config = json.loads((result.out / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == 32  # the run's max_seq_length
    marker = json.loads((result.out / MARKER).read_text())
    assert marker["run_id"] == paths.run_id and marker["kind"] == "merged"
    assert marker["checkpoint"] == "best" and marker["checkpoint_step"] > 0


def test_adapter_folder_names_its_base(runs, hub_like_base):
    paths = runs("prompt_tuning_text")
    result = export_run(paths, None, None, force=True)
    assert result.kind == "adapter" and result.loads_with == "transformers + peft"
    assert "config.json" not in result.files  # transformers would take the folder for a model
    adapter = json.loads((result.out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(hub_like_base)
    assert adapter["peft_type"] == "PROMPT_TUNING" and adapter["inference_mode"] is True
    # Without the labels, the base (two labels) cannot take the six-class head: the card and
    # --help say to pass them.
    from peft import AutoPeftModelForSequenceClassification

    with pytest.raises(RuntimeError, match="size mismatch"):
        AutoPeftModelForSequenceClassification.from_pretrained(result.out)


def test_model_card_tells_results_settings_data_and_time(runs, toy_data_dir):
    paths = runs("lora")
    result = export_run(paths, None, None, force=True)
    card = (result.out / "README.md").read_text()
    results = json.loads(paths.results.read_text())
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: text-classification")
    assert f"accuracy {100 * results['test_accuracy']:.2f}%" in card
    assert f"macro-F1 {100 * results['test_macro_f1']:.2f}%" in card
    for name, scores in results["per_class"].items():
        assert re.search(rf"^\| {name} \|.*\| {100 * scores['f1']:.2f}% \| "
                         rf"{scores['support']} \|$", card, flags=re.M), name
    assert "| `learning_rate` | 0.01 |" in card and "| `lora_r` | 8 |" in card
    assert "| `prefix_num_virtual_tokens`" not in card  # another method's setting
    assert f"- train: `{toy_data_dir / 'train.jsonl'}`" in card
    assert "| training time | " in card and "(2 epochs, best epoch" in card
    assert "```yaml\nmodel_name_or_path: " in card  # every setting, as config.yaml has it
    assert str(result.out) in card_code(result.out)


@pytest.mark.parametrize("name", MERGED)
def test_no_merged_exports_a_mergeable_method_as_its_adapter(name, runs):
    paths = runs(name)
    result = export_run(paths, None, False, force=True)
    assert result.kind == "adapter" and not result.merged
    adapter = json.loads((result.out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == methods.resolve(RUNS[name][0]["method"]).peft_method.upper()
    texts = sample_texts(paths)
    assert_same_predictions(plain_peft(result.out)(texts, top_k=None), predict(paths.root, texts))


def test_merged_is_refused_for_a_method_peft_cannot_merge(runs):
    paths = runs("prompt_tuning_text")
    shutil.rmtree(paths.export, ignore_errors=True)
    with pytest.raises(ConfigError, match="peft cannot merge it into the base weights; drop "
                                          "--merged"):
        export_run(paths, None, True)
    assert not paths.export.exists()


def test_no_merged_is_refused_for_full_fine_tuning(runs):
    with pytest.raises(ConfigError, match="no adapter to export; drop --no-merged"):
        export_run(runs("full"), None, False)


def test_out_folder_rules(runs, tmp_path):
    paths = runs("lora")
    out = tmp_path / "deep" / "er" / "model"
    first = export_run(paths, out, None)  # missing parents are made
    assert first.out == out and not first.replaced and (out / MARKER).is_file()
    with pytest.raises(ConfigError, match="exists and is not empty; .* --force"):
        export_run(paths, out, None)
    again = export_run(paths, out, None, force=True)
    assert again.replaced and (out / "model.safetensors").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="did not write"):
        export_run(paths, foreign, None, force=True)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_run(paths, empty, None).out == empty
    assert not [p for p in tmp_path.rglob(".*")]  # no temporaries left anywhere


def test_a_failed_check_leaves_nothing_behind(runs, tmp_path, monkeypatch):
    import emotui.train.export as export

    paths = runs("lora")
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no folder can pass
    out = tmp_path / "new" / "folder"
    with pytest.raises(ExportFailed, match="does not reproduce its predictions"):
        export_run(paths, out, None)
    assert list(tmp_path.iterdir()) == []  # the parents it made are gone too


def test_a_run_that_did_not_complete_is_refused(runs, tmp_path):
    from emotui.core.runstore import RunPaths

    paths = runs("ia3")
    copy = RunPaths(tmp_path / paths.run_id)
    shutil.copytree(paths.root, copy.root, ignore=shutil.ignore_patterns("export"))
    status = json.loads(copy.status.read_text())
    status.update(state="failed", reason="CUDA out of memory")
    copy.status.write_text(json.dumps(status))
    with pytest.raises(EmotuiError, match=r"failed \(CUDA out of memory\): only a completed "
                                          "run can be exported"):
        export_run(copy, None, None)
    assert not copy.export.exists()


def test_export_module_is_light():
    """A study controller may import export_run without loading torch."""
    code = ("import sys; from emotui.train.export import export_run, ExportResult; "
            "print([m for m in ('torch', 'transformers', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_cli_prints_one_json_document_or_the_folder(runs, capsys):
    from emotui.cli.main import main

    paths = runs("prompt_tuning_text")
    shutil.rmtree(paths.export, ignore_errors=True)
    store = str(paths.root.parent)
    capsys.readouterr()
    assert main(["export", "--runs-dir", store, paths.run_id, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["out"] == str(paths.export) and document["kind"] == "adapter"
    assert document["merged"] is False and document["loads_with"] == "transformers + peft"
    assert document["label_names"] == LABELS and "adapter_model.safetensors" in document["files"]
    # For people: the folder on stdout (for scripts too), what was done on stderr.
    assert main(["export", "--runs-dir", store, paths.run_id[-4:], "--force"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{paths.export}\n"
    assert f"replaced the export of run {paths.run_id}" in captured.err
