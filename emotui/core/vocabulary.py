"""The run directory's vocabulary: the keys of results.json and the names in metrics.jsonl.

Every reader and writer spells them through these names, never as string literals
(``tests/core/test_vocabulary.py`` fails, naming the file, the line and the name to use, on a
literal equal to one of them anywhere else in emotui). What the words mean, and which other
files copy them (a row of ``ls``, a sweep's trial, a study's record, W&B's summary), is said
where they are read: ``core/results.py`` (the contract, the row), ``core/events.py`` (an
event's shape), ``tracking/keys.py`` (W&B's names for them).

Plain ``str`` constants, so a value written to JSON or YAML, compared or used as a key is the
word itself. Pure Python: every layer imports it.
"""

from __future__ import annotations


class ResultKey:
    """The keys of results.json, written once by the job at its end
    (``train/reporting.assemble_results``, both recipes); ``core/results.RESULT_KEYS`` are the
    ones it always has. A listing's row (``core/results.summarize``), a sweep's trial record, a
    study's record and W&B's summary carry the metrics under the same names. The format's
    version is ``core/schema.SCHEMA_KEY``'s; the tracker's link (``wandb_run_id``,
    ``wandb_url``) is the tracker's."""

    # The run, as the other files name it (COMMON_WORDS: not guarded).
    RUN_ID = "run_id"
    STATUS = "status"
    METHOD = "method"
    MODEL = "model"
    ATTEMPT = "attempt"  # the attempt that wrote it (status.json's, core/status.py)
    # Quality: the best epoch's evaluation and the test pass.
    BEST_EPOCH = "best_epoch"
    EVAL_ACCURACY = "eval_accuracy"
    EVAL_MACRO_F1 = "eval_macro_f1"
    EVAL_LOSS = "eval_loss"
    TEST_ACCURACY = "test_accuracy"
    TEST_MACRO_F1 = "test_macro_f1"
    TEST_LOSS = "test_loss"
    PER_CLASS = "per_class"  # label -> precision, recall, f1, support (test split)
    CONFUSION_MATRIX = "confusion_matrix"
    LABEL_NAMES = "label_names"
    COLLAPSED = "collapsed"  # learned nothing; also the state word tables show for it
    COLLAPSE_REASON = "collapse_reason"  # the collapse sentinel stopped the run
    # Cost.
    TRAINABLE_PARAMS = "trainable_params"
    TOTAL_PARAMS = "total_params"
    CHECKPOINT_BYTES = "checkpoint_bytes"
    TRAIN_RUNTIME_S = "train_runtime_s"
    TRAIN_SAMPLES_PER_SECOND = "train_samples_per_second"
    EVAL_SAMPLES_PER_SECOND = "eval_samples_per_second"
    PEAK_GPU_MEMORY_BYTES = "peak_gpu_memory_bytes"
    EPOCHS_COMPLETED = "epochs_completed"
    GLOBAL_STEPS = "global_steps"
    NUM_VIRTUAL_TOKENS = "num_virtual_tokens"  # a prompt method's, as the job used it
    # How it ran.
    RECIPE = "recipe"
    DEVICE = "device"
    PRECISION = "precision"
    EVALS = "evals"  # each evaluation's summary
    TORCH_COMPILE = "torch_compile"
    COMPILE_S = "compile_s"
    TRAIN_PAD_FRACTION = "train_pad_fraction"
    EVAL_PAD_FRACTION = "eval_pad_fraction"
    TRAIN_TOKENS_PER_SECOND = "train_tokens_per_second"

    ALL = (
        RUN_ID, STATUS, METHOD, MODEL, ATTEMPT,
        BEST_EPOCH, EVAL_ACCURACY, EVAL_MACRO_F1, EVAL_LOSS, TEST_ACCURACY, TEST_MACRO_F1,
        TEST_LOSS, PER_CLASS, CONFUSION_MATRIX, LABEL_NAMES, COLLAPSED, COLLAPSE_REASON,
        TRAINABLE_PARAMS, TOTAL_PARAMS, CHECKPOINT_BYTES, TRAIN_RUNTIME_S,
        TRAIN_SAMPLES_PER_SECOND, EVAL_SAMPLES_PER_SECOND, PEAK_GPU_MEMORY_BYTES,
        EPOCHS_COMPLETED, GLOBAL_STEPS, NUM_VIRTUAL_TOKENS,
        RECIPE, DEVICE, PRECISION, EVALS, TORCH_COMPILE, COMPILE_S, TRAIN_PAD_FRACTION,
        EVAL_PAD_FRACTION, TRAIN_TOKENS_PER_SECOND,
    )


class Event:
    """The events of metrics.jsonl, named by their ``split`` field (``EventField.SPLIT``):
    written by the job (``train/reporting.RunReporter``: ``train/loop.py`` and
    ``train/reference.py`` send train, eval and test events, ``train/ticker.py``'s telemetry
    the system ones) through ``core/events.MetricsWriter``. Their shapes: ``core/events.py``.
    A sweep's metric (``eval/accuracy``) names its split by the same words."""

    TRAIN = "train"  # a logging step: loss, learning rate, speed
    EVAL = "eval"  # an evaluation on the validation split
    TEST = "test"  # the test pass at the end
    SYSTEM = "system"  # telemetry: CPU, memory, GPU

    ALL = (TRAIN, EVAL, TEST, SYSTEM)
    # The events that hold scores (EventField.SCORES); TRAIN holds only a loss.
    SCORED = (EVAL, TEST)


class EventField:
    """The fields of a metrics.jsonl event (``core/events.MetricsWriter`` writes the first
    four; the job's events the scores). An evaluation's scores are also what
    ``metric_for_best_model`` picks the best epoch by, and results.json's quality keys are
    ``<event>_<score>`` (``result_key``)."""

    TIME = "time"
    SPLIT = "split"  # which event (Event)
    STEP = "step"
    NONFINITE = "nonfinite"  # the fields a NaN or infinity was written as null for
    EPOCH = "epoch"
    # The scores of an eval or test event (a train event's loss too).
    ACCURACY = "accuracy"
    MACRO_F1 = "macro_f1"
    LOSS = "loss"

    SCORES = (ACCURACY, MACRO_F1, LOSS)
    ALL = (TIME, SPLIT, STEP, NONFINITE, EPOCH, *SCORES)


# Words of the vocabulary that also name other things in emotui (a config setting, a
# status.json field, a row's identity, peft's setting, a per-class score), so that a literal
# of one is no sign of a spelt-out results key: the guard test leaves them alone. Every other
# word of ResultKey and EventField is guarded everywhere; the words of Event (train, test, ...)
# also name data splits and CLI choices, and are guarded where they are an event's split.
COMMON_WORDS = (
    ResultKey.RUN_ID, ResultKey.STATUS, ResultKey.METHOD, ResultKey.MODEL, ResultKey.ATTEMPT,
    ResultKey.NUM_VIRTUAL_TOKENS, ResultKey.RECIPE, ResultKey.DEVICE, ResultKey.PRECISION,
    ResultKey.TORCH_COMPILE, EventField.TIME, EventField.STEP, EventField.EPOCH,
)


def result_key(event: str, score: str) -> str:
    """results.json's key for an event's score: ``result_key(Event.EVAL, EventField.ACCURACY)``
    is ``eval_accuracy`` (the best epoch's), ``result_key(Event.TEST, EventField.MACRO_F1)``
    ``test_macro_f1``. A pair results.json has no key for raises ValueError."""
    key = f"{event}_{score}"
    if event not in Event.SCORED or score not in EventField.SCORES or key not in ResultKey.ALL:
        raise ValueError(f"results.json has no key for the {score} of {event} events")
    return key
