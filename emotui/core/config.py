"""The one typed run config.

Every field is declared once here, with its type, default, help and limits. The CLI flags, the
TUI launch form, the sweep validator and the saved ``config.yaml`` are all derived from it.
Field names are those of the reference study's ``train.py`` (HfArgumentParser dataclasses), so
its command lines and W&B sweep files work unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from emotui.core import methods, settings
from emotui.core.errors import ConfigError
from emotui.core.settings import FORM_HIDDEN, MERGE_UPDATE, FieldSpec, setting, suggest

# ---------------------------------------------------------------------------------------------
# Field declarations
# ---------------------------------------------------------------------------------------------

GROUPS = ("model", "data", "method", "training", "evaluation", "logging")


def opt(default: Any, help: str, group: str, **kw: Any) -> Any:
    """Declare a config field: a dataclass field whose metadata holds its FieldSpec, from which
    validation, CLI flags, the TUI form and help derive. Keywords are FieldSpec's (choices,
    min, max, min_exclusive, max_exclusive, secret, form, parse...)."""
    return setting(default, help, group, **kw)


def _best_metric_name(value: Any, source: str) -> str:
    # HF spells it eval_accuracy too; W&B sweeps eval/accuracy.
    return str(value).strip().removeprefix("eval_").removeprefix("eval/")


BEST_MODEL_METRICS = ("accuracy", "macro_f1", "loss")
# torch_compile auto compiles runs of at least this many optimizer steps (on a CUDA GPU only):
# shorter runs do not win the compile time back (emotui.train.compiling). Measured on an H100,
# compiling cut a roberta-base step from 28 to 18.5 ms; compiling the layers from a warm cache
# takes seconds, so ~1000 steps (5 epochs of emotion at batch 64 = 1250) repay it.
# tests/benchmarks/bench_train.py's end-to-end rows (auto vs false) check this choice.
AUTO_COMPILE_MIN_STEPS = 1000


def _or_auto(what: str, name: str, value: Any, source: str) -> Any:
    """The field's own type (``what`` names it for errors), or "auto": the same as unset (the
    recipe or logging_interval decides)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    try:
        return settings.coerce(dataclasses.replace(FIELDS[name], parse=None), value, source)
    except ConfigError:
        raise ConfigError(f"{name} (from {source}) must be {what} or auto, got {value!r}"
                          ) from None


# logging_steps auto (unset): about this many training-loss points per run, so even a short
# run's loss plot is a curve.
AUTO_LOGGING_POINTS = 100


def logging_interval(logging_steps: int | None, total_steps: int) -> int:
    """Optimizer steps between two logged training losses: the setting, or for auto about
    AUTO_LOGGING_POINTS per run (every step of a run shorter than that)."""
    if logging_steps:
        return int(logging_steps)
    return max(1, int(total_steps) // AUTO_LOGGING_POINTS)


def plan_steps(config: RunConfig, train_rows: int) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) for ``train_rows`` training examples:
    batches of per_device_train_batch_size, gradient_accumulation_steps batches a step;
    max_steps when set (> 0), else num_train_epochs epochs. Both are at least 1."""
    batches = math.ceil(train_rows / config.per_device_train_batch_size) if train_rows else 0
    steps_per_epoch = max(1, math.ceil(batches / config.gradient_accumulation_steps))
    if config.max_steps and config.max_steps > 0:
        return steps_per_epoch, config.max_steps
    return steps_per_epoch, max(1, math.ceil(config.num_train_epochs * steps_per_epoch))


def greater_is_better(config: RunConfig) -> bool:
    """Whether a higher metric_for_best_model is better: the setting, else all but loss."""
    if config.greater_is_better is not None:
        return config.greater_is_better
    return config.metric_for_best_model != "loss"


# LoRA initialisations that keep the base weights as loaded and need no pass over data (PiSSA,
# OLoRA, CorDA, LoftQ rewrite the base weights; EVA, CorDA, LoRA-GA need data first), so an
# adapter-only checkpoint is the whole trained state.
LORA_INITS = ("true", "gaussian", "orthogonal", "mica", "false")


def _lowercase(value: Any, source: str) -> str:
    return str(value).strip().lower()  # a YAML `true` arrives as a bool


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
        None, "Hub token (prefer HF_TOKEN in the environment; never saved).", "model", secret=True,
        default_help="from $HF_TOKEN",
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
    # Which methods a field belongs to is the method registry's (emotui.core.methods).
    peft_method: str | None = opt(
        None, methods.PEFT_METHOD_HELP, "method", choices=methods.peft_choices(),
        form=FORM_HIDDEN,  # the launch form's method picker sets it
    )
    lora_r: int = opt(8, "LoRA rank.", "method", min=1, form=True)
    lora_alpha: float = opt(8, "LoRA scaling alpha.", "method", min=0, min_exclusive=True,
                            form=True)
    lora_dropout: float = opt(0.0, "Dropout on the LoRA path.", "method", min=0, max=1,
                              max_exclusive=True, form=True)
    lora_target_modules: str | None = opt(
        None, "Module names LoRA adapts, comma-separated (default: query,value).", "method",
        form=True,
    )
    lora_bias: str = opt("none", "Which biases LoRA trains.", "method",
                         choices=("none", "all", "lora_only"))
    use_dora: bool = opt(False, "DoRA: LoRA plus a trained magnitude per output feature.",
                         "method", form=True)
    use_rslora: bool = opt(False, "rsLoRA: scale the adapter by lora_alpha/sqrt(lora_r) instead "
                           "of lora_alpha/lora_r.", "method", form=True)
    init_lora_weights: str = opt(
        "true", "How LoRA's matrices start: true (B zero, A Kaiming), gaussian, orthogonal (even "
        "lora_r), mica (B from the base weight's minor singular vectors, frozen), false (both "
        "random; not a no-op).", "method", choices=LORA_INITS, parse=_lowercase,
    )
    prompt_tuning_num_virtual_tokens: int | None = opt(
        None, "Virtual tokens prepended.", "method", min=1, max=512, form=True,
        default_help=f"{methods.DEFAULT_VIRTUAL_TOKENS} for random init, the init text's "
        "length for text init",
    )
    prompt_tuning_init_text: str | None = opt(
        None, "Initialise virtual tokens from this text (TEXT init); unset means RANDOM init.",
        "method", form=True,
    )
    ia3_target_modules: str | None = opt(
        None, "Module names whose activations IA3 scales, comma-separated (default: "
        "key,value,output.dense).", "method", form=True,
    )
    ia3_feedforward_modules: str | None = opt(
        None, "Those of ia3_target_modules that are feed-forward layers: their input is scaled "
        "(default: output.dense).", "method",
    )
    prefix_num_virtual_tokens: int = opt(
        20, "Prefix tuning: trained key/value vectors prepended in every layer.", "method",
        min=1, max=512, form=True,
    )
    prefix_projection: bool = opt(
        False, "Prefix tuning: produce the prefixes through a two-layer MLP (P-tuning v2 "
        "without it).", "method", form=True,
    )
    prefix_encoder_hidden_size: int | None = opt(
        None, "Hidden size of that MLP (default: the model's hidden size).", "method", min=1,
    )
    p_tuning_num_virtual_tokens: int = opt(
        20, "P-tuning: virtual tokens prepended to the input.", "method", min=1, max=512,
        form=True,
    )
    p_tuning_encoder_reparameterization_type: str = opt(
        "mlp", "P-tuning: the prompt encoder that produces the virtual tokens (peft's MLP or "
        "LSTM; any case).", "method", choices=("mlp", "lstm"), parse=_lowercase, form=True,
    )
    p_tuning_encoder_hidden_size: int | None = opt(
        None, "Hidden size of the prompt encoder (default: the model's hidden size).", "method",
        min=1,
    )
    method_defaults: list[str] = opt(
        [], "Settings that took the method's default because none was given (written by emotui).",
        "method", form=FORM_HIDDEN, flag=False,
    )

    # --- training ----------------------------------------------------------------------------
    learning_rate: float = opt(5e-5, "Peak learning rate.", "training", min=0, min_exclusive=True,
                               max=10, form=True,
                               default_help=methods.defaults_help("learning_rate"))
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
    # numpy (which transformers seeds too) takes 0 .. 2**32 - 1: others fail mid-run.
    seed: int = opt(42, "Random seed (model init, dropout, data order).", "training", form=True,
                    min=0, max=2**32 - 1)
    bf16: bool | None = opt(None, "bf16 autocast (default: on where the GPU supports it).", "training")
    fp16: bool = opt(False, "fp16 autocast with loss scaling.", "training")
    recipe: str = opt(
        "default", "default: emotui's fast loop; reference: HF Trainer as the study ran it.",
        "training", choices=("default", "reference"),
    )
    torch_compile: bool | None = opt(
        None, "torch.compile the model's layers: true, false, or auto (unset): on for runs of at "
        f"least {AUTO_COMPILE_MIN_STEPS} optimizer steps on a CUDA GPU; compiled kernels are cached "
        "in the user cache folder.", "training",
        parse=partial(_or_auto, "true, false", "torch_compile"),
        metavar="{auto,true,false}", default_help="auto",
    )
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
                                     choices=BEST_MODEL_METRICS, parse=_best_metric_name)
    greater_is_better: bool | None = opt(None, "Direction of that metric (default: from its name).",
                                         "evaluation")
    stop_on_collapse: bool = opt(
        True, "Stop a run whose eval accuracy stays at or below the majority-class rate, or whose "
        "loss is non-finite, for collapse_patience evaluations in a row (default recipe).",
        "evaluation")
    collapse_patience: int = opt(2, "Evaluations in a row that count as a collapse.", "evaluation",
                                 min=1)

    # --- logging -----------------------------------------------------------------------------
    logging_steps: int | None = opt(
        None, "Log the training loss every N optimizer steps; auto: about "
        f"{AUTO_LOGGING_POINTS} points per run (every step of a short run).", "logging", min=1,
        parse=partial(_or_auto, "a whole number", "logging_steps"), metavar="{auto,N}",
        default_help="auto",
    )
    report_to: str = opt("none", "none or wandb.", "logging", choices=("none", "wandb", "all"))
    run_name: str | None = opt(None, "A label for the run (W&B run name).", "logging")
    output_dir: str | None = opt(
        None, "Study compatibility only: emotui writes into the run directory.", "logging"
    )
    overwrite_output_dir: bool = opt(False, "Study compatibility only.", "logging")
    disable_tqdm: bool = opt(False, "Study compatibility only.", "logging")

    # Other transformers.TrainingArguments fields, kept as given; the reference recipe passes them on.
    extra_training_args: dict[str, Any] = opt(
        {}, "Further TrainingArguments (reference recipe).", "training", form=FORM_HIDDEN,
        flag=False, merge=MERGE_UPDATE,
    )

    @property
    def method(self) -> str:
        """The method name (emotui.core.methods) the study's settings select."""
        return methods.recognise(vars(self)).name

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Plain dict in declaration order; secrets left out unless asked for."""
        out = {}
        for f in dataclasses.fields(self):
            if FIELDS[f.name].secret and not include_secrets:
                continue
            out[f.name] = getattr(self, f.name)
        out["method"] = self.method
        return out

    def lora_targets(self) -> list[str]:
        raw = self.lora_target_modules or "query,value"
        return [m.strip() for m in raw.split(",") if m.strip()]

    def text_columns(self) -> list[str]:
        return [c.strip() for c in self.text_column_names.split(",") if c.strip()]


# Keys the study's files spell differently from its flags (argparse accepted the prefix).
KEY_ALIASES = {
    "text_column_name": "text_column_names",
    "evaluation_strategy": "eval_strategy",
    "method": "method",
}

# transformers.TrainingArguments fields (5.x plus names removed since 4.x) not declared above:
# accepted, stored in extra_training_args, used by the reference recipe, ignored by the default one
# (except torch_compile_mode, which both recipes use when they compile).
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
) - {f.name for f in dataclasses.fields(RunConfig)}
SECRET_EXTRA_ARGS = frozenset({"hub_token", "push_to_hub_token"})


def unknown_key_error(key: str, source: str) -> ConfigError:
    return ConfigError(
        f"unknown setting '{key}' in {source}{suggest(key, sorted(set(FIELDS) | set(KEY_ALIASES)))}"
        + ("" if suggest(key, FIELDS) else "; 'emotui run --help' lists them")
    )


RUN_SETTINGS = settings.Schema.of(
    RunConfig, "run",
    # The method registry says which methods each field belongs to.
    methods={name: methods.owners(name) or None for name in methods.owned_fields()},
    aliases={k: v for k, v in KEY_ALIASES.items() if k != v},
    # `method` is the registry's shorthand; the rest are TrainingArguments kept as given.
    others=frozenset({"method"}) | EXTRA_TRAINING_ARGS,
    groups=GROUPS, dest_prefix="cfg__", underscore_flags="first", alias_flags=True,
    unknown=unknown_key_error,
)
FIELDS: dict[str, FieldSpec] = dict(RUN_SETTINGS.fields)


def field_type(name: str) -> type:
    """The scalar type of a field (int, float, str, bool, dict), with Optional stripped."""
    return FIELDS[name].type


def is_nullable(name: str) -> bool:
    return FIELDS[name].nullable


# ---------------------------------------------------------------------------------------------
# Coercion and validation
# ---------------------------------------------------------------------------------------------


def coerce_value(name: str, value: Any, source: str = "config") -> Any:
    """Turn a raw value (a string from a flag, a YAML scalar) into the field's type, or raise."""
    return settings.coerce(FIELDS[name], value, source)


def check_range(name: str, value: Any, source: str = "config") -> None:
    settings.check_range(FIELDS[name], value, source)


def normalize_key(key: str) -> str:
    """Flag spelling -> field name: dashes to underscores, the study's aliases resolved."""
    return RUN_SETTINGS.key(key)


def known_keys() -> set[str]:
    return set(FIELDS) | set(EXTRA_TRAINING_ARGS) | set(KEY_ALIASES)


def build_config(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[RunConfig, set[str]]:
    """Merge raw settings (lowest precedence first) into a validated RunConfig.

    Each layer is ``(source name, {key: raw value})``: e.g. ``[("config.yaml", {...}),
    ("command line", {...})]``. Returns the config and the set of keys given explicitly.
    """
    merged = settings.layer_settings(RUN_SETTINGS, layers, others=_method_and_training_args)
    defaulted = _fill_method_defaults(merged, layers)
    config = merged.build()
    given = set(merged.values) - {*defaulted, methods.DEFAULTS_FIELD}
    validate_combinations(config, given, merged.sources)
    absolutize_local_paths(config)
    return config, given


def _fill_method_defaults(merged: settings.Layered, layers) -> tuple[str, ...]:
    """The recognised method's defaults for what no layer gave, listed in method_defaults.
    A saved config's list (from the layer that set it) keeps its values while its method does."""
    source = merged.sources.get(methods.DEFAULTS_FIELD)
    recorded = tuple(k for k in merged.values.get(methods.DEFAULTS_FIELD, ())
                     if merged.sources.get(k) == source)
    recorded_for = methods.layer_method(dict(layers).get(source) or {}) if recorded else None
    filled = methods.fill_defaults(merged.values, recorded, recorded_for)
    for key in filled:
        merged.sources.setdefault(key, "method default")
    merged.set(methods.DEFAULTS_FIELD, list(filled), "method default")
    return filled


def _method_and_training_args(merged: settings.Layered, others: dict[str, Any],
                              source: str) -> None:
    """A layer's keys that are not RunConfig fields: the `method` shorthand (applied after the
    layer's fields) and other TrainingArguments (kept as given, tokens never)."""
    for key, value in others.items():
        if key in EXTRA_TRAINING_ARGS and key not in SECRET_EXTRA_ARGS:
            merged.set("extra_training_args", {key: value}, source)
    if "method" in others:
        # The same layer's own peft_method must agree with its method (--method lora
        # --peft_method prompt_tuning says two things; neither silently wins).
        given = {methods.PEFT_FIELD: merged.values.get(methods.PEFT_FIELD)} \
            if merged.sources.get(methods.PEFT_FIELD) == source else {}
        for k in methods.select(merged.values, others["method"], source, given=given):
            merged.sources[k] = source


# Settings that may name local files or folders. A run's config.yaml must work from any working
# directory (a Slurm job, `emotui predict` run elsewhere), so existing local paths become absolute.
PATH_FIELDS = ("model_name_or_path", "config_name", "tokenizer_name", "cache_dir", "data_dir",
               "train_file", "validation_file", "test_file")


def absolutize_local_paths(config: RunConfig) -> None:
    import os

    for name in PATH_FIELDS:
        value = getattr(config, name)
        if not value:
            continue
        path = Path(value).expanduser()
        if name == "cache_dir" or path.exists():
            # normpath: '../shared/x' and its absolute spelling are one model in every table.
            setattr(config, name, os.path.normpath(os.path.abspath(path)))


# Settings that take a Hub id or a local folder.
HUB_OR_PATH_FIELDS = ("model_name_or_path", "config_name", "tokenizer_name")
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def looks_like_missing_local_path(value: str) -> bool:
    """A value meant as a local folder (./x, ../x, /x, ~/x, a/b/c) that does not exist; a Hub id
    (roberta-base, FacebookAI/roberta-base) is left to the Hub."""
    import os

    if Path(value).expanduser().exists():
        return False
    if value.startswith(("./", "../", "/", "~")) or value in (".", ".."):
        return True
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if not any(sep in value for sep in separators):
        return False
    return not (HUB_ID.fullmatch(value) and ".." not in value and "--" not in value)


def _check_local_model_paths(config: RunConfig, sources: Mapping[str, str]) -> None:
    # Refused here, before a run exists: the Hub would otherwise fail it seconds later.
    for name in HUB_OR_PATH_FIELDS:
        value = getattr(config, name)
        if value and looks_like_missing_local_path(str(value)):
            raise ConfigError(
                f"{name} (from {sources.get(name, 'config')}): folder {value} does not exist; "
                "check the path, or give a Hub id such as roberta-base"
            )


def validate_combinations(config: RunConfig, explicit: set[str], sources: Mapping[str, str]) -> None:
    """Rules that span fields. Explicitly set method options must belong to the chosen method."""
    method = config.method
    for name in explicit:
        allowed = methods.owners(name)
        if getattr(config, name) == FIELDS[name].default:
            continue  # a saved config.yaml spells out every default; only real choices count
        if allowed and method not in allowed:
            owners = [methods.get(m) for m in allowed]
            if name == methods.INIT_TEXT_FIELD \
                    and config.peft_method in {o.peft_method for o in owners}:
                continue  # an empty init text is caught below
            needs = " or ".join(dict.fromkeys(o.selector for o in owners))
            raise ConfigError(
                f"{name} (from {sources.get(name, 'config')}) applies to {', '.join(allowed)} "
                f"but this run is {method}; add {needs} or drop {name}"
            )
    if "prompt_tuning_init_text" in explicit and config.prompt_tuning_init_text is not None \
            and not config.prompt_tuning_init_text.strip():
        raise ConfigError(
            "prompt_tuning_init_text is empty; give a text such as "
            f"'{methods.DEFAULT_PROMPT_INIT_TEXT}' or leave it unset for random init"
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
    _check_local_model_paths(config, sources)
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
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
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
