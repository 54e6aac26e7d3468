"""The model card (README.md) of a folder `emotui export` writes, and the code that loads it.

Pure Python: the export (``emotui.train.export``) hands over what the run's files hold and what
it wrote; the card says what the model is, exactly which lines load it, how well it did on the
test split (each class too), with which settings, on which data, and how long it trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core import methods
from emotui.core.progress import format_duration
from emotui.core.units import count, percent, plain, size
from emotui.core.vocabulary import ResultKey

# What an export folder holds: a fully fine-tuned model, an adapter merged into its base (both
# plain transformers models), or a PEFT adapter that names its base model.
FULL = "full"
MERGED = "merged"
ADAPTER = "adapter"
KINDS = (FULL, MERGED, ADAPTER)

# The settings the card's table shows (besides the method's own); config.yaml has the rest.
KEY_SETTINGS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps",
                "num_train_epochs", "max_steps", "max_seq_length", "lr_scheduler_type",
                "warmup_ratio", "warmup_steps", "weight_decay", "label_smoothing_factor",
                "metric_for_best_model", "recipe", "seed")


def _py(value: Any) -> str:
    """A Python literal for the loading code (json's quoting is valid Python for strings)."""
    return json.dumps(value, ensure_ascii=False)


def loader_code(kind: str, folder: str, label_names: list[str], *, example: str | None,
                trust_remote_code: bool = False, prefix_argument: str | None = None) -> str:
    """The Python lines that load the exported folder into ``classify`` (a pipeline) and, given
    an ``example``, print its classes' scores for that text: plain
    transformers for a full or merged model, transformers + peft for an adapter (its base gets
    the labels, which its own config lacks). ``prefix_argument``: the name this encoder takes
    prefix tuning's prefixes by, when PEFT cannot pass them unaided (builders.prefix_argument)."""
    remote = ", trust_remote_code=True" if trust_remote_code else ""
    lines = []
    if kind == ADAPTER:
        lines += ["from peft import AutoPeftModelForSequenceClassification",
                  "from transformers import AutoTokenizer, pipeline", "",
                  f"folder = {_py(folder)}  # this folder (where it was exported)",
                  f"labels = {_py(list(label_names))}",
                  "# The base model the adapter names is loaded with this classifier's labels,",
                  "# in float32 as it was trained (its config may name float16).",
                  "model = AutoPeftModelForSequenceClassification.from_pretrained(",
                  "    folder, id2label=dict(enumerate(labels)), dtype=\"float32\",",
                  f"    label2id={{name: i for i, name in enumerate(labels)}}{remote})"]
        if prefix_argument:
            lines += ["# PEFT hands prefix tuning's prefixes over as `past_key_values`; this "
                      f"encoder calls them `{prefix_argument}`.",
                      "base = model.get_base_model()",
                      "forward = base.forward",
                      "base.forward = lambda *args, past_key_values=None, **kwargs: forward(",
                      f"    *args, {prefix_argument}=past_key_values, **kwargs)"]
    else:
        lines += ["from transformers import AutoModelForSequenceClassification, AutoTokenizer, "
                  "pipeline", "",
                  f"folder = {_py(folder)}  # this folder (where it was exported)",
                  f"model = AutoModelForSequenceClassification.from_pretrained(folder, "
                  f"dtype=\"float32\"{remote})"]
    lines += ["tokenizer = AutoTokenizer.from_pretrained(folder)",
              'classify = pipeline("text-classification", model=model, tokenizer=tokenizer, '
              "truncation=True)"]
    if example is not None:
        lines.append(f"print(classify([{_py(example)}], top_k=None))")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CardFacts:
    """What the card tells: the run's records and what the export wrote."""

    run_id: str
    kind: str
    base_model: str  # as the adapter names it (an absolute path for a local folder)
    label_names: list[str]
    loader: str  # loader_code(...)
    config: dict[str, Any]  # config.yaml
    config_text: str  # config.yaml as written
    results: dict[str, Any]  # results.json
    status: dict[str, Any]  # status.json
    data: list[tuple[str, str]]  # (split, where it came from)
    checkpoint_step: int | None = None
    emotui_version: str = ""
    hub_base: bool = False  # base_model is a Hub id (the card's metadata names it)
    extra_tags: list[str] = field(default_factory=list)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else plain(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _what(facts: CardFacts, label: str) -> str:
    base = f"`{facts.base_model}`"
    if facts.kind == FULL:
        return f"{label} of {base}: every weight trained, saved whole"
    if facts.kind == MERGED:
        return f"{label} on {base}, merged into the base weights: a plain transformers model"
    return f"{label} on {base}: the adapter (and the classification head) only, naming its base"


def _loading(facts: CardFacts) -> list[str]:
    max_len = facts.config.get("max_seq_length")
    if facts.kind == ADAPTER:
        needs = ("transformers and peft load it: `AutoPeftModelForSequenceClassification` "
                 "fetches the base model named in `adapter_config.json` (`base_model_name_or_path`"
                 f" = `{facts.base_model}`) and puts the adapter on it. The base's own config "
                 "does not know this classifier's labels, so they are passed in:")
    else:
        needs = ("Plain transformers loads it (`AutoModelForSequenceClassification`, "
                 "`pipeline`); the label names are in `config.json` (`id2label`, `label2id`):")
    return [needs, "", "```python", facts.loader.rstrip("\n"), "```", "",
            f"The tokenizer cuts texts to {max_len} tokens with `truncation=True` "
            "(`model_max_length`), as in training and `emotui predict`."]


def _results(facts: CardFacts) -> list[str]:
    results = facts.results
    lines: list[str] = []
    per_class = results.get(ResultKey.PER_CLASS) or {}
    tested = sum(int(c.get("support") or 0) for c in per_class.values()
                 if isinstance(c, dict))
    if results.get(ResultKey.TEST_ACCURACY) is not None:
        lines.append(f"- test split ({tested} examples): accuracy "
                     f"{percent(results[ResultKey.TEST_ACCURACY])}, macro-F1 "
                     f"{percent(results.get(ResultKey.TEST_MACRO_F1))}")
    else:
        lines.append("- no test split: the run has no test metrics")
    if results.get(ResultKey.EVAL_ACCURACY) is not None:
        best_epoch = plain(results.get(ResultKey.BEST_EPOCH))
        lines.append(f"- validation at the best epoch ({best_epoch}): "
                     f"accuracy {percent(results[ResultKey.EVAL_ACCURACY])}, macro-F1 "
                     f"{percent(results.get(ResultKey.EVAL_MACRO_F1))}")
    if results.get(ResultKey.COLLAPSED):
        lines.append("")
        lines.append("**Note:** this run collapsed (its accuracy sat at the majority-class rate "
                     "or its loss stopped being finite); its predictions say little.")
    if per_class:
        lines += ["", "Per class (test split):", ""]
        lines += _table(("class", "precision", "recall", "F1", "support"),
                        [(name, percent(c.get("precision")), percent(c.get("recall")),
                          percent(c.get("f1")), plain(c.get("support")))
                         for name, c in per_class.items() if isinstance(c, dict)])
    return lines


def _training(facts: CardFacts, label: str) -> list[str]:
    results, status = facts.results, facts.status
    rows: list[tuple[Any, ...]] = [("method", label), ("base model", f"`{facts.base_model}`")]
    epochs = results.get(ResultKey.EPOCHS_COMPLETED)
    timing = format_duration(results.get(ResultKey.TRAIN_RUNTIME_S))
    if epochs is not None:
        best_epoch = plain(results.get(ResultKey.BEST_EPOCH))
        timing += f" ({plain(epochs)} epochs, best epoch {best_epoch})"
    rows.append(("training time", timing))
    started, ended = status.get("started"), status.get("ended")
    if isinstance(started, (int, float)) and isinstance(ended, (int, float)):
        rows.append(("wall time (training, evaluation, test)", format_duration(ended - started)))
    if results.get(ResultKey.TRAIN_SAMPLES_PER_SECOND) is not None:
        speed = results[ResultKey.TRAIN_SAMPLES_PER_SECOND]
        rows.append(("training samples/s", plain(round(speed, 1))))
    trainable = results.get(ResultKey.TRAINABLE_PARAMS)
    total = results.get(ResultKey.TOTAL_PARAMS)
    if trainable is not None and total:
        rows.append(("trainable parameters",
                     f"{count(trainable)} of {count(total)} ({100 * trainable / total:.2f}%)"))
    if results.get(ResultKey.NUM_VIRTUAL_TOKENS) is not None:
        rows.append(("virtual tokens", plain(results[ResultKey.NUM_VIRTUAL_TOKENS])))
    if results.get(ResultKey.CHECKPOINT_BYTES) is not None:
        rows.append(("checkpoint size", size(results[ResultKey.CHECKPOINT_BYTES])))
    if status.get("device"):
        rows.append(("device", str(status["device"])))
    if results.get(ResultKey.PEAK_GPU_MEMORY_BYTES) is not None:
        rows.append(("peak GPU memory", size(results[ResultKey.PEAK_GPU_MEMORY_BYTES])))
    if facts.checkpoint_step is not None:
        rows.append(("exported checkpoint", f"best (step {facts.checkpoint_step})"))
    return _table(("", ""), rows)


def _settings(facts: CardFacts) -> list[str]:
    config = facts.config
    method = config.get("method")
    spec = methods.find(method)
    filled = set(config.get(methods.DEFAULTS_FIELD) or ())
    keys = list(dict.fromkeys([*KEY_SETTINGS, *(spec.owns if spec else ())]))
    rows = []
    for key in keys:
        value = config.get(key)
        if value in (None, "", {}) or not methods.applies(key, method):
            continue
        if key == "max_steps" and isinstance(value, int) and value <= 0:
            continue
        shown = repr(value) if isinstance(value, str) and value.strip() != value else plain(value)
        rows.append((f"`{key}`", shown + (" (method default)" if key in filled else "")))
    return [*_table(("setting", "value"), rows), "",
            "<details><summary>Every setting (the run's config.yaml)</summary>", "",
            "```yaml", facts.config_text.rstrip("\n"), "```", "", "</details>"]


def _data(facts: CardFacts) -> list[str]:
    config = facts.config
    lines = [f"- {split}: `{source}`" for split, source in facts.data]
    columns = config.get("text_column_names")
    if columns:
        lines.append(f"- text column(s): `{columns}`; label column: "
                     f"`{config.get('label_column_name')}`")
    limits = [f"{key} {config[key]}" for key in ("max_train_samples", "max_eval_samples",
                                                 "max_predict_samples") if config.get(key)]
    if limits:
        lines.append(f"- limited to: {', '.join(limits)}")
    lines.append(f"- labels ({len(facts.label_names)}): "
                 + ", ".join(f"`{name}`" for name in facts.label_names))
    return lines


def _front_matter(facts: CardFacts, tag: str) -> list[str]:
    lines = ["---", f"library_name: {'peft' if facts.kind == ADAPTER else 'transformers'}",
             "pipeline_tag: text-classification"]
    if facts.hub_base:
        lines.append(f"base_model: {json.dumps(facts.base_model)}")
    lines += ["tags:", "- emotui", f"- {tag}", *(f"- {t}" for t in facts.extra_tags), "---"]
    return lines


def model_card(facts: CardFacts) -> str:
    """README.md of the exported folder (Hugging Face model card: YAML metadata, then text)."""
    method = facts.config.get("method")
    spec = methods.find(method)
    label = spec.label if spec else str(method)
    tag = spec.tag if spec else "model"
    names = ", ".join(facts.label_names)
    what = _what(facts, label)
    lines = [*_front_matter(facts, tag), "", f"# {facts.run_id}", "",
             f"{what[:1].upper()}{what[1:]}. It labels a text as one of {len(facts.label_names)} "
             f"classes: {names}.", "",
             f"Exported by emotui {facts.emotui_version} (`emotui export`) from run "
             f"`{facts.run_id}`'s best checkpoint, the one `emotui predict` uses.", "",
             "## How to load it", "", *_loading(facts), "",
             "## Results", "", *_results(facts), "",
             "## Training", "", *_training(facts, label), "",
             "## Settings", "", *_settings(facts), "",
             "## Data", "", *_data(facts), ""]
    return "\n".join(lines)


def is_local(name: str) -> bool:
    """Whether a model name is a folder on this machine (not a Hub id)."""
    return Path(name).expanduser().exists()
