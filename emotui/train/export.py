"""`emotui export`: a run's best checkpoint as a Hugging Face model folder of its own.

What the folder holds (``ExportResult.kind``):

- ``full``: full fine-tuning's model, whole;
- ``merged``: a method peft can merge (``MethodSpec.mergeable``: LoRA and its variants, IA3,
  LoHa, ...) folded into the base weights. Both load with plain transformers
  (``AutoModelForSequenceClassification.from_pretrained``, ``pipeline``), the label names in
  ``config.json``. Merging is the default where the method allows it: the folder is then a
  plain model that runs at the base model's speed and needs no peft;
- ``adapter``: the peft adapter (with the trained classification head) naming the base it goes
  on (``adapter_config.json``'s ``base_model_name_or_path``), for the prompt methods, which
  peft cannot merge, and for a mergeable method exported with ``merged=False``. transformers +
  peft load it (``AutoPeftModelForSequenceClassification``), given the labels.

Beside the weights: the tokenizer (cutting texts at the run's ``max_seq_length``, as training
and ``predict`` did), README.md (the model card: the exact lines that load the folder, test
metrics, per-class F1, settings, data, training time) and ``emotui_export.json`` (what wrote
the folder; ``--force`` replaces only a folder holding one).

Everything is written into a temporary folder beside the target; before it is renamed into
place, the card's own loading lines run on it and must reproduce the run's predictions (those
of ``emotui predict``) on up to 32 of its test texts. Anything that fails leaves nothing behind.
Checks that need no model (the run's state, the method against ``merged``, the target folder:
``export_plan``) come before torch is imported.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotui import __version__
from emotui.core import checkpoints
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError, DataError, EmotuiError
from emotui.core.model_card import ADAPTER, FULL, MERGED, CardFacts, is_local, loader_code, \
    model_card
from emotui.core.results import load_config_dict
from emotui.core.runstore import RunPaths, read_json, temporary_for
from emotui.train.data import local_files
from emotui.train.export_plan import MARKER, ExportPlan, plan_export
from emotui.train.reporting import configure_library_logging

CARD = "README.md"
PROBE_TEXTS = 32  # test texts the exported folder must classify as the run does
TOLERANCE = 1e-3  # largest difference in any class probability the check accepts
EXAMPLE_TEXT = "i feel happy today"


class ExportFailed(EmotuiError):
    """The exported folder could not be written or does not reproduce the run (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class ExportResult:
    """What ``export_run`` wrote, and how to load it."""

    run_id: str
    out: Path
    kind: str  # full | merged | adapter
    method: str
    base_model: str  # the base model the run started from (an adapter names it)
    label_names: tuple[str, ...]
    files: tuple[str, ...]
    replaced: bool  # an earlier export was there (force)
    loader: str  # the Python lines that load it (also in the card)
    checked_texts: int
    max_difference: float  # largest probability difference to the run's own predictions

    @property
    def merged(self) -> bool:
        return self.kind == MERGED

    @property
    def loads_with(self) -> str:
        return "transformers + peft" if self.kind == ADAPTER else "transformers"

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "out": str(self.out), "kind": self.kind,
                "merged": self.merged, "method": self.method, "base_model": self.base_model,
                "loads_with": self.loads_with, "label_names": list(self.label_names),
                "files": list(self.files), "replaced": self.replaced,
                "checked_texts": self.checked_texts, "max_difference": self.max_difference}


def export_run(paths: RunPaths, out: Path | None = None, merged: bool | None = None, *,
               force: bool = False) -> ExportResult:
    """Write the best checkpoint of the completed run ``paths`` as a Hugging Face model folder
    at ``out`` (default: ``paths.export``). ``merged``: None merges where peft can (the
    registry's ``mergeable`` methods) and exports the adapter otherwise; True insists on merging (refused for a method that
    cannot be merged); False exports the adapter. ``force`` replaces an earlier export at
    ``out``. Bad input raises a one-line EmotuiError before anything is written."""
    plan = plan_export(paths, out, merged, force=force)
    return _write(plan)


# --- writing ---------------------------------------------------------------------------------


def _write(plan: ExportPlan) -> ExportResult:
    from emotui.train.predict import load_for_inference, probabilities  # lazy: pulls torch

    configure_library_logging()
    config, paths = plan.config, plan.paths
    labels = _label_names(paths)
    model, tokenizer = load_for_inference(config, paths.checkpoint_best, labels)
    model.to("cpu").eval()
    texts = _probe_texts(paths, labels)
    expected = probabilities(model, tokenizer, texts, config.max_seq_length, "cpu")
    base = _base_name(config)
    created = _make_parent(plan.target)
    staging = temporary_for(plan.target)
    try:
        staging.mkdir()
    except OSError as exc:
        for folder in created:
            _remove_if_empty(folder)
        raise ConfigError(f"--out {plan.target}: cannot write beside it "
                          f"({exc.strerror or exc}); give a folder you can write to") from None
    try:
        prefix_argument = _save_model(plan, model, staging, labels, base)
        tokenizer.model_max_length = config.max_seq_length  # pipeline(truncation=True) cuts there
        tokenizer.save_pretrained(staging)
        loader = _loader(plan, labels, prefix_argument)
        _write_card(plan, staging, labels, base, loader(str(plan.target), texts[0]))
        difference = _check(plan, staging, loader, labels, texts, expected)
        _publish(staging, plan.target, plan.replace)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            _remove_if_empty(folder)
        if isinstance(exc, OSError):  # a full disk, no permission
            raise ExportFailed(f"cannot write the export of run {paths.run_id} to "
                               f"{plan.target} ({exc.strerror or exc}); nothing was written"
                               ) from exc
        raise
    return ExportResult(
        run_id=paths.run_id, out=plan.target, kind=plan.kind, method=plan.spec.name,
        base_model=base, label_names=tuple(labels),
        files=tuple(sorted(p.name for p in plan.target.iterdir())), replaced=plan.replace,
        loader=loader(str(plan.target), texts[0]), checked_texts=len(texts),
        max_difference=difference,
    )


def _label_names(paths: RunPaths) -> list[str]:
    from emotui.train.checkpoint import LABELS_FILE  # lazy: pulls torch

    file = paths.checkpoint_best / LABELS_FILE
    try:
        labels = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        labels = None
    if not (isinstance(labels, list) and labels and all(isinstance(n, str) for n in labels)):
        raise EmotuiError(f"run {paths.run_id}'s best checkpoint has no readable label names "
                          f"({file}): it cannot be exported")
    return labels


def _probe_texts(paths: RunPaths, labels: list[str]) -> list[str]:
    """Up to PROBE_TEXTS of the run's test texts (test_predictions.jsonl), else a few texts
    made of the label names."""
    texts: list[str] = []
    try:
        with open(paths.predictions, encoding="utf-8") as fh:
            for line in fh:
                try:
                    text = json.loads(line).get("text")
                except (ValueError, AttributeError):
                    continue
                if isinstance(text, str) and text.strip():
                    texts.append(text)
                if len(texts) == PROBE_TEXTS:
                    break
    except OSError:
        pass
    return texts or [EXAMPLE_TEXT, *(f"i feel {name}" for name in labels)]


def _base_name(config: RunConfig) -> str:
    """The base model as an export names it: a Hub id as given, a local folder absolute."""
    name = config.model_name_or_path
    return str(Path(name).expanduser().absolute()) if is_local(name) else name


def _make_parent(target: Path) -> list[Path]:
    """Create ``target``'s missing parent folders; the ones created, deepest first."""
    missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        for folder in missing:
            _remove_if_empty(folder)
        raise ConfigError(f"--out {target}: cannot create its folder "
                          f"({exc.strerror or exc}); give a folder you can write to") from None
    return missing


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _set_labels(model_config, labels: list[str]) -> None:
    model_config.id2label = dict(enumerate(labels))
    model_config.label2id = {name: i for i, name in enumerate(labels)}


def _save_model(plan: ExportPlan, model, folder: Path, labels: list[str],
                base: str) -> str | None:
    """Write the weights of ``plan.kind`` into ``folder``; returns the argument prefix tuning
    hands its prefixes over by when PEFT cannot pass them unaided (else None)."""
    if plan.kind == FULL:
        _set_labels(model.config, labels)
        model.save_pretrained(folder)
        return None
    if plan.kind == MERGED:
        merged = _merge(plan, model)
        _set_labels(merged.config, labels)
        merged.save_pretrained(folder)
        return None
    from emotui.train.builders import prefix_argument  # lazy: pulls torch

    peft_config = model.peft_config[model.active_adapter]
    peft_config.base_model_name_or_path = base
    if plan.config.model_revision and plan.config.model_revision != "main":
        peft_config.revision = plan.config.model_revision
    model.save_pretrained(folder)
    (folder / CARD).unlink(missing_ok=True)  # peft's stub; the card is written next
    if peft_config.peft_type == "PREFIX_TUNING":
        return prefix_argument(model.get_base_model())
    return None


def _merge(plan: ExportPlan, model):
    """The base model with the adapter folded into its weights, the trained head in place."""
    from peft.utils import ModulesToSaveWrapper

    # The trained copies of the modules peft saves whole (the classification head) go in
    # first: peft 0.21's IA3 merge fails on a head that is not a single Linear (RoBERTa's).
    base = model.get_base_model()
    for name, module in list(base.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent, _, child = name.rpartition(".")
            trained = module.modules_to_save[module.active_adapters[0]]
            setattr(base.get_submodule(parent) if parent else base, child, trained)
    try:
        return model.merge_and_unload(safe_merge=True)
    except ValueError as exc:  # safe_merge found non-finite weights
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ExportFailed(f"run {plan.paths.run_id}'s adapter cannot be merged ({last}); "
                           "export the adapter instead (--no-merged)") from exc


def _loader(plan: ExportPlan, labels: list[str], prefix_argument: str | None):
    def code(folder: str, example: str | None) -> str:
        return loader_code(plan.kind, folder, labels, example=example,
                           trust_remote_code=plan.config.trust_remote_code,
                           prefix_argument=prefix_argument)

    return code


def _write_card(plan: ExportPlan, folder: Path, labels: list[str], base: str,
                loader: str) -> None:
    results = read_json(plan.paths.results) or {}
    step = checkpoints.sealed_step(plan.paths.checkpoint_best)
    facts = CardFacts(
        run_id=plan.paths.run_id, kind=plan.kind, base_model=base, label_names=labels,
        loader=loader, config=_config_dict(plan), config_text=plan.config_text,
        results=results, status=plan.status, data=_data_sources(plan.config),
        checkpoint_step=step, emotui_version=__version__, hub_base=not is_local(base),
        extra_tags=["merged"] if plan.kind == MERGED else [],
    )
    (folder / CARD).write_text(model_card(facts), encoding="utf-8")
    marker = {"exported_by": f"emotui {__version__}", "created": round(time.time(), 3),
              "run_id": plan.paths.run_id, "run_dir": str(plan.paths.root),
              "checkpoint": "best", "checkpoint_step": step, "kind": plan.kind,
              "method": plan.spec.name, "base_model": base, "label_names": labels}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _config_dict(plan: ExportPlan) -> dict[str, Any]:
    return load_config_dict(plan.paths)


def _data_sources(config: RunConfig) -> list[tuple[str, str]]:
    try:
        files = local_files(config)
    except DataError:  # its data_dir is gone since: name it as given
        return [("data_dir", str(config.data_dir))]
    if files:
        return [(split, str(path)) for split, path in files.items()]
    hub = f"{config.dataset_name}" + (f" ({config.dataset_config_name})"
                                      if config.dataset_config_name else "")
    return [("Hub dataset", hub)]


# --- the check and the rename ----------------------------------------------------------------


def _check(plan: ExportPlan, folder: Path, loader, labels: list[str], texts: list[str],
           expected) -> float:
    """Run the card's loading lines on the staged ``folder`` and classify ``texts`` with the
    pipeline they build; returns the largest probability difference to ``expected`` (the
    run's own model), refusing the export above TOLERANCE or when the labels are not the
    run's."""
    import torch

    rid = plan.paths.run_id
    code = loader(str(folder), None)
    scope: dict[str, Any] = {}
    # The pipeline takes a GPU where there is one: in full fp32, like the CPU reference, even
    # where training in this process allowed TF32 (a study).
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        exec(compile(code, f"<{CARD} of the export of {rid}>", "exec"), scope)  # noqa: S102
        with torch.no_grad():
            rows = scope["classify"](list(texts), top_k=None)
    except Exception as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ExportFailed(f"the exported folder of run {rid} does not load the way its "
                           f"{CARD} says ({type(exc).__name__}: {last}); nothing was written; "
                           f"emotui predict {rid} still works") from exc
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        scope.clear()  # the loaded copy's memory goes before the export returns
    got = torch.zeros((len(texts), len(labels)))
    for i, row in enumerate(rows):
        scores = {item["label"]: item["score"] for item in row}
        if set(scores) != set(labels):
            raise ExportFailed(f"the exported folder of run {rid} names its classes "
                               f"{sorted(scores)[:3]}..., not the run's labels; nothing was "
                               "written")
        got[i] = torch.tensor([scores[name] for name in labels])
    difference = float((got - expected).abs().max())
    if difference > TOLERANCE:
        raise ExportFailed(f"the exported folder of run {rid} does not reproduce its "
                           f"predictions (class probabilities differ by up to {difference:.3g} "
                           f"on {len(texts)} texts); nothing was written; emotui predict "
                           f"{rid} still works")
    return difference


def _publish(staging: Path, target: Path, replace: bool) -> None:
    """Rename the checked folder into place (over an empty folder, or an earlier export)."""
    if not replace:
        try:
            os.replace(staging, target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise ConfigError(f"--out {target} was filled while exporting; give a new or "
                                  "empty folder") from None
            raise
        return
    old = temporary_for(target)
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
