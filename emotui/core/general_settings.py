"""The settings every run has, whatever its method: model, data, the method's selector,
training, evaluation and logging, each declared once with its type, default, help and limits.

Names are those of the reference study's ``train.py`` (HfArgumentParser dataclasses), so its
command lines and W&B sweep files work unchanged. Each method's own settings are its registry
entry's group (``emotui.core.method_settings``); ``emotui.core.config.RunConfig`` holds both.
Also here: what some of these settings mean once a run knows its data (``plan_steps``,
``logging_interval``, ``greater_is_better``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emotui.core import methods, trackers, training_args
from emotui.core.errors import ConfigError
from emotui.core.setting_values import coerce
from emotui.core.settings import FORM_HIDDEN, MERGE_UPDATE, FieldSpec, Parser, setting
from emotui.core.vocabulary import Event, EventField

if TYPE_CHECKING:
    from emotui.core.config import RunConfig

# The sections of --help and of the launch form, in order.
GROUPS = ("model", "data", "method", "training", "evaluation", "logging")


def opt(default: Any, help: str, group: str, **kw: Any) -> Any:
    """Declare a config field: a dataclass field whose metadata holds its FieldSpec, from which
    validation, CLI flags, the TUI form and help derive. Keywords are FieldSpec's (choices,
    min, max, min_exclusive, max_exclusive, secret, form, parse...)."""
    return setting(default, help, group, **kw)


def _best_metric_name(value: Any, source: str) -> str:
    # HF spells it eval_accuracy too; W&B sweeps eval/accuracy.
    return str(value).strip().removeprefix(f"{Event.EVAL}_").removeprefix(f"{Event.EVAL}/")


BEST_MODEL_METRICS = EventField.SCORES  # an evaluation's scores (metrics.jsonl's eval events)
# torch_compile auto compiles runs of at least this many optimizer steps (on a CUDA GPU only):
# shorter runs do not win the compile time back (emotui.train.compiling). Measured on an H100,
# compiling cut a roberta-base step from 28 to 18.5 ms; compiling the layers from a warm cache
# takes seconds, so ~1000 steps (5 epochs of emotion at batch 64 = 1250) repay it.
# tests/benchmarks/bench_train.py's end-to-end rows (auto vs false) check this choice.
AUTO_COMPILE_MIN_STEPS = 1000


def _or_auto(typ: type, what: str, name: str) -> Parser:
    """The parser of a setting that takes its type (``what`` names it for errors) or "auto":
    the same as unset (the recipe or logging_interval decides)."""
    plain = FieldSpec(name=name, type=typ, default=None, help="", nullable=True)

    def parse(value: Any, source: str) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return None
        try:
            return coerce(plain, value, source)
        except ConfigError:
            raise ConfigError(f"{name} (from {source}) must be {what} or auto, got {value!r}"
                              ) from None

    return parse


# logging_steps auto (unset): about this many training-loss points per run, so even a short
# run's loss plot is a curve.
AUTO_LOGGING_POINTS = 100


@dataclass
class GeneralSettings:
    """The settings of every run. RunConfig holds them, with each method's group after
    ``peft_method``."""

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
    # Selects the method (with prompt_tuning_init_text); each method's own settings follow it
    # in RunConfig, from the registry (emotui.core.methods).
    peft_method: str | None = opt(
        None, methods.PEFT_METHOD_HELP, "method", choices=methods.peft_choices(),
        form=FORM_HIDDEN,  # the launch form's method picker sets it
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
        parse=_or_auto(bool, "true, false", "torch_compile"),
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
    metric_for_best_model: str = opt(EventField.ACCURACY, "Metric that picks the best epoch.",
                                     "evaluation", choices=BEST_MODEL_METRICS,
                                     parse=_best_metric_name)
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
        parse=_or_auto(int, "a whole number", "logging_steps"), metavar="{auto,N}",
        default_help="auto",
    )
    report_to: str = opt("none", trackers.REPORT_TO_HELP, "logging",
                         choices=trackers.REPORT_TO_CHOICES)
    run_name: str | None = opt(None, "A label for the run (W&B run name).", "logging")
    output_dir: str | None = opt(
        None, "Study compatibility only: emotui writes into the run directory.", "logging"
    )
    overwrite_output_dir: bool = opt(False, "Study compatibility only.", "logging")
    disable_tqdm: bool = opt(False, "Study compatibility only.", "logging")

    # Other transformers.TrainingArguments fields, kept as given; the reference recipe passes them on.
    extra_training_args: dict[str, Any] = opt(
        {}, "Further TrainingArguments (reference recipe).", "training", form=FORM_HIDDEN,
        flag=False, merge=MERGE_UPDATE, parse=training_args.check_all,
    )


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
    return config.metric_for_best_model != EventField.LOSS
