"""The one typed run config.

Every field is declared once here, with its type, default, help and limits. The CLI flags, the
TUI launch form, the sweep validator and the saved ``config.yaml`` are all derived from it.
Field names are those of the reference study's ``train.py`` (HfArgumentParser dataclasses), so
its command lines and W&B sweep files work unchanged.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from emotui.core.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Field declarations
# ---------------------------------------------------------------------------------------------

GROUPS = ("model", "data", "method", "training", "evaluation", "logging")


def opt(
    default: Any,
    help: str,
    group: str,
    *,
    choices: Iterable[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    methods: tuple[str, ...] | None = None,
    secret: bool = False,
    form: bool = False,
    type: type | None = None,
) -> Any:
    """Declare a config field; the metadata drives validation, CLI flags and the TUI form."""
    meta = {
        "help": help,
        "group": group,
        "choices": tuple(choices) if choices is not None else None,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "max_exclusive": max_exclusive,
        # Which methods the field belongs to (None: all). Setting it for another method is an error.
        "methods": methods,
        # Never written to config.yaml, logs or command lines (tokens).
        "secret": secret,
        # Shown in the TUI launch form by default (the rest sits behind "advanced").
        "form": form,
        "type": type,
    }
    return field(default=default, metadata=meta)


METHODS = ("full", "lora", "prompt_tuning_text", "prompt_tuning_random")
# The short names of `--method` and what they mean.
METHOD_ALIASES = {
    "full": "full",
    "lora": "lora",
    "prompt-text": "prompt_tuning_text",
    "prompt-random": "prompt_tuning_random",
    "prompt_tuning_text": "prompt_tuning_text",
    "prompt_tuning_random": "prompt_tuning_random",
}
DEFAULT_PROMPT_INIT_TEXT = "classify the emotion of the following text: "
BEST_MODEL_METRICS = ("accuracy", "macro_f1", "loss")
LORA = ("lora",)
PROMPT = ("prompt_tuning_text", "prompt_tuning_random")


@dataclass
class RunConfig:
    """Everything that determines what a run does. Saved, fully resolved, as ``config.yaml``."""

    # --- model -------------------------------------------------------------------------------
    model_name_or_path: str = opt(
        "roberta-base", "Hub model id or local folder of the pretrained encoder.", "model", form=True
    )
    config_name: str | None = opt(None, "Model config name or path, if not the model's.", "model")
    tokenizer_name: str | None = opt(None, "Tokenizer name or path, if not the model's.", "model")
    cache_dir: str | None = opt(None, "Where Hub downloads are cached.", "model")
    use_fast_tokenizer: bool = opt(True, "Use a fast (Rust) tokenizer.", "model")
    model_revision: str = opt("main", "Model revision (branch, tag or commit) on the Hub.", "model")
    token: str | None = opt(
        None, "Hub token (prefer HF_TOKEN in the environment; never saved).", "model", secret=True
    )
    trust_remote_code: bool = opt(False, "Allow custom model code from the Hub.", "model")
    ignore_mismatched_sizes: bool = opt(
        False, "Load a checkpoint whose head has another number of labels.", "model"
    )

    # --- data --------------------------------------------------------------------------------
    dataset_name: str | None = opt(
        "dair-ai/emotion", "Hub dataset id (ignored when local files are given).", "data", form=True
    )
    dataset_config_name: str | None = opt(None, "Hub dataset configuration.", "data")
    data_dir: str | None = opt(
        None, "Folder holding train/validation/test files (.jsonl .json .csv .parquet .txt).", "data"
    )
    train_file: str | None = opt(None, "Local training file.", "data", form=True)
    validation_file: str | None = opt(None, "Local validation file.", "data", form=True)
    test_file: str | None = opt(None, "Local test file.", "data", form=True)
    do_regression: bool = opt(False, "Regression instead of classification (unsupported).", "data")
    text_column_names: str = opt(
        "text", "Text column(s), comma-separated; several are joined.", "data"
    )
    text_column_delimiter: str = opt(" ", "Joins several text columns.", "data")
    label_column_name: str = opt("label", "Label column.", "data")
    train_split_name: str | None = opt(None, "Hub split used for training.", "data")
    validation_split_name: str | None = opt(None, "Hub split used for evaluation.", "data")
    test_split_name: str | None = opt(None, "Hub split used for the final test.", "data")
    remove_splits: str | None = opt(None, "Splits to drop, comma-separated.", "data")
    remove_columns: str | None = opt(None, "Columns to drop, comma-separated.", "data")
    max_seq_length: int = opt(128, "Longer texts are truncated to this many tokens.", "data", min=1)
    pad_to_max_length: bool = opt(
        False, "Pad every batch to max_seq_length (slow; the study did).", "data"
    )
    preprocessing_num_workers: int | None = opt(None, "Tokenisation processes.", "data", min=1)
    overwrite_cache: bool = opt(False, "Re-tokenise even if a cached copy exists.", "data")
    shuffle_train_dataset: bool = opt(False, "Shuffle the training split once before use.", "data")
    shuffle_seed: int = opt(42, "Seed of that shuffle.", "data")
    max_train_samples: int | None = opt(None, "Use only this many training examples.", "data", min=1)
    max_eval_samples: int | None = opt(None, "Use only this many validation examples.", "data", min=1)
    max_predict_samples: int | None = opt(None, "Use only this many test examples.", "data", min=1)
    metric_name: str | None = opt(
        None, "Study compatibility: accuracy, macro-F1 and per-class metrics are always computed.",
        "data",
    )

    # --- method ------------------------------------------------------------------------------
    peft_method: str | None = opt(
        None, "lora or prompt_tuning; unset means full fine-tuning.", "method",
        choices=(None, "lora", "prompt_tuning"),
    )
    lora_r: int = opt(8, "LoRA rank.", "method", min=1, methods=LORA, form=True)
    lora_alpha: float = opt(8, "LoRA scaling alpha.", "method", min=0, min_exclusive=True,
                            methods=LORA, form=True)
    lora_dropout: float = opt(0.0, "Dropout on the LoRA path.", "method", min=0, max=1,
                              max_exclusive=True, methods=LORA, form=True)
    lora_target_modules: str | None = opt(
        None, "Module names LoRA adapts, comma-separated (default: query,value).", "method",
        methods=LORA, form=True,
    )
    lora_bias: str = opt("none", "Which biases LoRA trains.", "method",
                         choices=("none", "all", "lora_only"), methods=LORA)
    prompt_tuning_num_virtual_tokens: int | None = opt(
        None, "Virtual tokens prepended (default: 20, or the init text's token count).", "method",
        min=1, max=512, methods=PROMPT, form=True,
    )
    prompt_tuning_init_text: str | None = opt(
        None, "Initialise virtual tokens from this text (TEXT init); unset means RANDOM init.",
        "method", methods=("prompt_tuning_text",), form=True,
    )

    # --- training ----------------------------------------------------------------------------
    learning_rate: float = opt(5e-5, "Peak learning rate.", "training", min=0, min_exclusive=True,
                               max=10, form=True)
    per_device_train_batch_size: int = opt(64, "Training batch size.", "training", min=1, form=True)
    per_device_eval_batch_size: int = opt(
        256, "Evaluation batch size (large is fast; memory-bound).", "training", min=1
    )
    gradient_accumulation_steps: int = opt(1, "Batches per optimizer step.", "training", min=1)
    num_train_epochs: float = opt(5, "Training epochs.", "training", min=0, min_exclusive=True,
                                  form=True)
    max_steps: int = opt(-1, "Stop after this many optimizer steps (-1: use epochs).", "training",
                         min=-1)
    weight_decay: float = opt(0.0, "AdamW weight decay.", "training", min=0)
    adam_beta1: float = opt(0.9, "AdamW beta1.", "training", min=0, max=1, max_exclusive=True)
    adam_beta2: float = opt(0.999, "AdamW beta2.", "training", min=0, max=1, max_exclusive=True)
    adam_epsilon: float = opt(1e-8, "AdamW epsilon.", "training", min=0, min_exclusive=True)
    max_grad_norm: float = opt(1.0, "Gradient clipping norm (0: off).", "training", min=0)
    lr_scheduler_type: str = opt(
        "linear", "Learning-rate schedule.", "training",
        choices=("linear", "cosine", "constant", "constant_with_warmup"),
    )
    warmup_ratio: float = opt(0.0, "Fraction of steps spent warming up.", "training", min=0, max=1)
    warmup_steps: int = opt(0, "Warm-up steps (overrides warmup_ratio when > 0).", "training", min=0)
    label_smoothing_factor: float = opt(0.0, "Label smoothing.", "training", min=0, max=1,
                                        max_exclusive=True)
    seed: int = opt(42, "Random seed (model init, dropout, data order).", "training", form=True)
    bf16: bool | None = opt(None, "bf16 autocast (default: on where the GPU supports it).", "training")
    fp16: bool = opt(False, "fp16 autocast with loss scaling.", "training")
    recipe: str = opt(
        "default", "default: emotui's fast loop; reference: HF Trainer as the study ran it.",
        "training", choices=("default", "reference"),
    )
    torch_compile: bool = opt(False, "torch.compile the model (pays off only for long runs).", "training")
    dataloader_num_workers: int = opt(0, "Data-loading worker processes.", "training", min=0)

    # --- evaluation and checkpoints ------------------------------------------------------------
    do_train: bool = opt(True, "Train.", "evaluation")
    do_eval: bool = opt(True, "Evaluate on the validation split.", "evaluation")
    do_predict: bool = opt(True, "Predict the test split with the best model.", "evaluation")
    eval_strategy: str = opt("epoch", "When to evaluate.", "evaluation",
                             choices=("epoch", "steps", "no"))
    eval_steps: int | None = opt(None, "Evaluate every N steps (eval_strategy=steps).", "evaluation",
                                 min=1)
    save_strategy: str = opt("epoch", "When to checkpoint.", "evaluation",
                             choices=("epoch", "steps", "no", "best"))
    save_steps: int | None = opt(None, "Checkpoint every N steps (save_strategy=steps).",
                                 "evaluation", min=1)
    save_total_limit: int | None = opt(
        2, "Checkpoints kept (emotui keeps best + last).", "evaluation", min=1
    )
    load_best_model_at_end: bool = opt(True, "Predict the test split with the best epoch's model.",
                                       "evaluation")
    metric_for_best_model: str = opt("accuracy", "Metric that picks the best epoch.", "evaluation",
                                     choices=BEST_MODEL_METRICS)
    greater_is_better: bool | None = opt(None, "Direction of that metric (default: from its name).",
                                         "evaluation")

    # --- logging -----------------------------------------------------------------------------
    logging_steps: int = opt(20, "Log training loss every N optimizer steps.", "logging", min=1)
    report_to: str = opt("none", "none or wandb.", "logging", choices=("none", "wandb", "all"))
    run_name: str | None = opt(None, "A label for the run (W&B run name).", "logging")
    output_dir: str | None = opt(
        None, "Study compatibility only: emotui writes into the run directory.", "logging"
    )
    overwrite_output_dir: bool = opt(False, "Study compatibility only.", "logging")
    disable_tqdm: bool = opt(False, "Study compatibility only.", "logging")

    # Other transformers.TrainingArguments fields, kept as given; the reference recipe passes them on.
    extra_training_args: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Further TrainingArguments (reference recipe).", "group": "training",
                  "choices": None, "min": None, "max": None, "min_exclusive": False,
                  "max_exclusive": False, "methods": None, "secret": False, "form": False,
                  "type": dict},
    )

    @property
    def method(self) -> str:
        """full | lora | prompt_tuning_text | prompt_tuning_random."""
        if self.peft_method == "lora":
            return "lora"
        if self.peft_method == "prompt_tuning":
            return "prompt_tuning_text" if self.prompt_tuning_init_text else "prompt_tuning_random"
        return "full"

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Plain dict in declaration order; secrets left out unless asked for."""
        out = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("secret") and not include_secrets:
                continue
            out[f.name] = getattr(self, f.name)
        out["method"] = self.method
        return out

    def lora_targets(self) -> list[str]:
        raw = self.lora_target_modules or "query,value"
        return [m.strip() for m in raw.split(",") if m.strip()]

    def text_columns(self) -> list[str]:
        return [c.strip() for c in self.text_column_names.split(",") if c.strip()]


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}

# Keys the study's files spell differently from its flags (argparse accepted the prefix).
KEY_ALIASES = {
    "text_column_name": "text_column_names",
    "evaluation_strategy": "eval_strategy",
    "method": "method",
}

# transformers.TrainingArguments fields (5.x plus names removed since 4.x) not declared above:
# accepted, stored in extra_training_args, used by the reference recipe, ignored by the default one.
EXTRA_TRAINING_ARGS = frozenset(
    """lr_scheduler_kwargs optim optim_args optim_target_modules average_tokens_across_devices
    bf16_full_eval fp16_full_eval tf32 activation_checkpointing activation_checkpointing_kwargs
    gradient_checkpointing gradient_checkpointing_kwargs torch_compile_backend torch_compile_mode
    use_liger_kernel liger_kernel_config use_cache neftune_noise_alpha torch_empty_cache_steps
    auto_find_batch_size logging_strategy logging_first_step log_on_each_node
    logging_nan_inf_filter include_num_input_tokens_seen log_level log_level_replica project
    eval_delay prediction_loss_only eval_on_start eval_do_concat_batches eval_use_gather_object
    eval_accumulation_steps include_for_metrics batch_eval_metrics save_only_model
    save_on_each_node enable_jit_checkpoint push_to_hub hub_private_repo hub_model_id hub_strategy
    hub_always_push hub_revision ignore_data_skip restore_callback_states_from_checkpoint
    full_determinism data_seed use_cpu accelerator_config parallelism_config dataloader_drop_last
    dataloader_pin_memory dataloader_persistent_workers dataloader_prefetch_factor
    dataloader_multiprocessing_context dataloader_in_order remove_unused_columns label_names
    train_sampling_strategy length_column_name ddp_find_unused_parameters ddp_bucket_cap_mb
    ddp_broadcast_buffers ddp_static_graph ddp_backend ddp_timeout fsdp fsdp_config deepspeed debug
    skip_memory_metrics resume_from_checkpoint local_rank logging_dir save_safetensors
    group_by_length per_gpu_train_batch_size per_gpu_eval_batch_size eval_accumulation
    dataloader_prefetch include_inputs_for_metrics include_tokens_per_second jit_mode_eval
    use_ipex no_cuda use_mps_device torchdynamo ray_scope save_on_each_node hub_token
    push_to_hub_model_id push_to_hub_organization push_to_hub_token mp_parameters
    fp16_opt_level fp16_backend half_precision_backend tpu_num_cores tpu_metrics_debug
    past_index adafactor sharded_ddp optim_target_modules split_batches dispatch_batches
    neftune_noise_alpha use_legacy_prediction_loop""".split()
) - set(FIELDS)
SECRET_EXTRA_ARGS = frozenset({"hub_token", "push_to_hub_token"})


def field_names() -> list[str]:
    return list(FIELDS)


def field_help(name: str) -> str:
    return FIELDS[name].metadata["help"]


def field_type(name: str) -> type:
    """The scalar type of a field (int, float, str, bool, dict), with Optional stripped."""
    f = FIELDS[name]
    explicit = f.metadata.get("type")
    if explicit is not None:
        return explicit
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    for candidate, typ in (("bool", bool), ("int", int), ("float", float), ("str", str),
                           ("dict", dict)):
        if ann.split("|")[0].strip() == candidate:
            return typ
    raise AssertionError(f"unsupported annotation {ann!r} on {name}")


def is_nullable(name: str) -> bool:
    f = FIELDS[name]
    return isinstance(f.type, str) and "None" in f.type


# ---------------------------------------------------------------------------------------------
# Coercion and validation
# ---------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """"; did you mean 'x'?" or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close else ""


def coerce_value(name: str, value: Any, source: str = "config") -> Any:
    """Turn a raw value (a string from a flag, a YAML scalar) into the field's type, or raise."""
    typ = field_type(name)
    where = f"{name} (from {source})"
    if value is None or (isinstance(value, str) and value.strip().lower() in {"none", "null"}
                         and typ is not str):
        if is_nullable(name):
            return None
        raise ConfigError(f"{where} must be a {typ.__name__}, not empty")
    if typ is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            try:
                as_float = float(str(value).strip())
            except ValueError:
                as_float = math.nan
            if as_float.is_integer():
                return int(as_float)
            raise ConfigError(f"{where} must be an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            # YAML 1.1 reads 2e-5 (no dot) as a string; float() takes it.
            number = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return number
    if typ is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if name == "metric_for_best_model":
        # HF spells it eval_accuracy too; W&B sweeps eval/accuracy.
        value = str(value).strip().removeprefix("eval_").removeprefix("eval/")
    if isinstance(value, (list, tuple)):
        # A YAML list for a comma-separated option (lora_target_modules: [query, value]).
        return ",".join(str(v) for v in value)
    return str(value)


def check_range(name: str, value: Any, source: str = "config") -> None:
    meta = FIELDS[name].metadata
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join("unset" if c is None else str(c) for c in choices)
        raise ConfigError(
            f"{name} (from {source}) must be one of: {shown}; got {value!r}"
            + (suggest(str(value), [str(c) for c in choices if c], cutoff=0.5))
        )
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        op = ">" if meta.get("min_exclusive") else ">="
        raise ConfigError(f"{name} (from {source}) must be {op} {lo:g}, got {value!r}")
    if hi is not None and (value > hi or (meta.get("max_exclusive") and value == hi)):
        op = "<" if meta.get("max_exclusive") else "<="
        raise ConfigError(f"{name} (from {source}) must be {op} {hi:g}, got {value!r}")


def normalize_key(key: str) -> str:
    """Flag spelling -> field name: dashes to underscores, the study's aliases resolved."""
    key = key.strip().lstrip("-").replace("-", "_")
    return KEY_ALIASES.get(key, key)


def known_keys() -> set[str]:
    return set(FIELDS) | set(EXTRA_TRAINING_ARGS) | set(KEY_ALIASES)


def unknown_key_error(key: str, source: str) -> ConfigError:
    return ConfigError(
        f"unknown setting '{key}' in {source}{suggest(key, sorted(set(FIELDS) | set(KEY_ALIASES)))}"
        + ("" if suggest(key, FIELDS) else "; 'emotui run --help' lists them")
    )


def apply_method_alias(values: dict[str, Any], method: str, source: str) -> None:
    """--method full|lora|prompt-text|prompt-random expressed as the study's fields."""
    resolved = METHOD_ALIASES.get(str(method).strip().lower())
    if resolved is None:
        raise ConfigError(
            f"method (from {source}) must be one of: full, lora, prompt-text, prompt-random; "
            f"got {method!r}{suggest(str(method), METHOD_ALIASES)}"
        )
    if resolved == "full":
        values["peft_method"] = None
    elif resolved == "lora":
        values["peft_method"] = "lora"
    else:
        values["peft_method"] = "prompt_tuning"
        if resolved == "prompt_tuning_text":
            values.setdefault("prompt_tuning_init_text", DEFAULT_PROMPT_INIT_TEXT)
        elif values.get("prompt_tuning_init_text"):
            raise ConfigError(
                f"prompt_tuning_init_text (from {source}) contradicts method prompt-random; "
                "drop one of them"
            )
        else:
            values["prompt_tuning_init_text"] = None


def build_config(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[RunConfig, set[str]]:
    """Merge raw settings (lowest precedence first) into a validated RunConfig.

    Each layer is ``(source name, {key: raw value})``: e.g. ``[("config.yaml", {...}),
    ("command line", {...})]``. Returns the config and the set of keys given explicitly.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for source, raw in layers:
        method = None
        for raw_key, raw_value in raw.items():
            key = normalize_key(str(raw_key))
            if key == "method":
                method = raw_value
                continue
            if key in FIELDS and key != "extra_training_args":
                values[key] = coerce_value(key, raw_value, source)
                sources[key] = source
            elif key == "extra_training_args":
                extra.update(coerce_value(key, raw_value, source))
            elif key in EXTRA_TRAINING_ARGS:
                if key in SECRET_EXTRA_ARGS:
                    continue  # tokens are never kept
                extra[key] = raw_value
            else:
                raise unknown_key_error(str(raw_key), source)
        if method is not None:
            apply_method_alias(values, method, source)
            for k in ("peft_method", "prompt_tuning_init_text"):
                sources[k] = source
    for key, value in values.items():
        check_range(key, value, sources[key])
    config = RunConfig(**values, extra_training_args=extra)
    validate_combinations(config, set(values), sources)
    absolutize_local_paths(config)
    return config, set(values)


# Settings that may name local files or folders. A run's config.yaml must work from any working
# directory (a Slurm job, `emotui predict` run elsewhere), so existing local paths become absolute.
PATH_FIELDS = ("model_name_or_path", "config_name", "tokenizer_name", "cache_dir", "data_dir",
               "train_file", "validation_file", "test_file")


def absolutize_local_paths(config: RunConfig) -> None:
    for name in PATH_FIELDS:
        value = getattr(config, name)
        if not value:
            continue
        path = Path(value).expanduser()
        if name == "cache_dir" or path.exists():
            setattr(config, name, str(path.absolute()))


def validate_combinations(config: RunConfig, explicit: set[str], sources: Mapping[str, str]) -> None:
    """Rules that span fields. Explicitly set method options must belong to the chosen method."""
    method = config.method
    for name in explicit:
        allowed = FIELDS[name].metadata.get("methods")
        if getattr(config, name) == FIELDS[name].default:
            continue  # a saved config.yaml spells out every default; only real choices count
        if allowed and method not in allowed:
            if name == "prompt_tuning_init_text" and config.peft_method == "prompt_tuning":
                continue  # an empty init text is caught below
            needs = "--peft_method lora" if allowed == LORA else "--peft_method prompt_tuning"
            raise ConfigError(
                f"{name} (from {sources.get(name, 'config')}) applies to {', '.join(allowed)} "
                f"but this run is {method}; add {needs} or drop {name}"
            )
    if "prompt_tuning_init_text" in explicit and config.prompt_tuning_init_text is not None \
            and not config.prompt_tuning_init_text.strip():
        raise ConfigError(
            "prompt_tuning_init_text is empty; give a text such as "
            f"'{DEFAULT_PROMPT_INIT_TEXT}' or leave it unset for random init"
        )
    if config.do_regression:
        raise ConfigError("do_regression is not supported: emotui trains classifiers; drop it")
    if config.bf16 and config.fp16:
        raise ConfigError("bf16 and fp16 are both set; choose one")
    if config.lora_target_modules is not None and not config.lora_targets():
        raise ConfigError("lora_target_modules is empty; give module names such as query,value")
    if not config.text_columns():
        raise ConfigError("text_column_names is empty; give the text column, e.g. text")
    if config.eval_strategy == "steps" and not config.eval_steps:
        raise ConfigError("eval_strategy steps needs --eval_steps N")
    if config.save_strategy == "steps" and not config.save_steps:
        raise ConfigError("save_strategy steps needs --save_steps N")
    if config.load_best_model_at_end and config.do_eval and config.eval_strategy == "no" \
            and "load_best_model_at_end" in explicit:
        raise ConfigError("load_best_model_at_end needs evaluation; set --eval_strategy epoch")
    if not (config.do_train or config.do_eval or config.do_predict):
        raise ConfigError("do_train, do_eval and do_predict are all false: nothing to do")
    for name in ("train_file", "validation_file", "test_file"):
        path = getattr(config, name)
        if path is not None:
            _check_readable(Path(path).expanduser(), name, want_dir=False)
    if config.data_dir is not None:
        _check_readable(Path(config.data_dir).expanduser(), "data_dir", want_dir=True)
    if (config.validation_file or config.test_file) and not (config.train_file or config.data_dir) \
            and config.do_train:
        raise ConfigError("validation_file/test_file given without --train_file; add it")


def _check_readable(path: Path, name: str, *, want_dir: bool) -> None:
    import os

    if not path.exists():
        raise ConfigError(f"{name}: {path} does not exist; check the path")
    if want_dir != path.is_dir():
        kind = "a folder" if want_dir else "a file"
        raise ConfigError(f"{name}: {path} is not {kind}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{name}: {path} is not readable; check its permissions")


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

# Sections of a --config file that belong to other layers (launch, W&B), not to RunConfig.
SECTIONS = ("slurm", "wandb", "backend")


def read_yaml_mapping(path: Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file whose top level is a mapping, or a one-line ConfigError."""
    import yaml

    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def split_sections(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, {section: mapping}) from a --config file's top level."""
    run, sections = {}, {}
    for key, value in data.items():
        if key in SECTIONS:
            sections[key] = value
        else:
            run[key] = value
    return run, sections


def config_from_yaml(path: Path) -> RunConfig:
    """Load a saved config.yaml (as written by dump_config) back."""
    data = read_yaml_mapping(path, "run config")
    data.pop("method", None)  # derived
    run, _ = split_sections(data)
    config, _ = build_config([(str(path), run)])
    return config


def dump_config(config: RunConfig) -> str:
    """YAML text of the fully resolved config (no secrets), fields in declaration order."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
