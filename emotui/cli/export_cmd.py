"""`emotui export RUN`: a run's best checkpoint as a Hugging Face model folder (train.export)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from emotui.core.methods import METHODS
from emotui.core.runstore import RunStore


def _families(specs) -> str:
    """'prompt tuning, prefix tuning (P-tuning v2)': labels, a method's variants once."""
    return ", ".join(dict.fromkeys(m.label.split(",")[0] for m in specs))


def _and_list(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _epilog() -> str:
    mergeable = _and_list([m.label for m in METHODS if m.mergeable])
    adapters = _families(m for m in METHODS if m.peft_method and not m.mergeable)
    full = _families(m for m in METHODS if m.peft_method is None)
    return "\n".join([
        "What the folder holds, and what loads it (README.md in it gives the exact lines):",
        textwrap.fill(f"{full}; {mergeable} merged into the base (their default):", width=88,
                      initial_indent="  ", subsequent_indent="  "),
        "    a plain transformers model, the label names in config.json:",
        "      AutoModelForSequenceClassification.from_pretrained(DIR)",
        '      pipeline("text-classification", model=DIR, truncation=True)',
        textwrap.fill(f"{adapters}; {mergeable} with --no-merged:", width=88,
                      initial_indent="  ", subsequent_indent="  "),
        "    the peft adapter (and the classification head), naming its base model in",
        "    adapter_config.json; transformers + peft load it, given the labels:",
        "      peft.AutoPeftModelForSequenceClassification.from_pretrained(",
        "          DIR, id2label={0: ...}, label2id={...})",
        "    prefix tuning may need two more lines (README.md has them)",
        "",
        textwrap.fill(
            "Only a completed run exports: its best checkpoint (the one `emotui predict` uses) "
            "is written beside DIR, loaded back the way README.md says, checked against the "
            "run's own predictions, then renamed into place; a refused or failed export leaves "
            "nothing behind.", width=88),
    ]) + "\n"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = sub.add_parser(
        "export", parents=[common], epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="a run's best model as a Hugging Face folder (transformers loads it)",
        description=textwrap.fill(
            "Write a completed run's best checkpoint as a Hugging Face model folder: the "
            "weights (an adapter merged into its base where peft can merge), the tokenizer, "
            "and a model card (README.md) with how to load it, test metrics, per-class F1, "
            "settings, data and training time.", width=88),
    )
    export.add_argument("run", metavar="RUN", help="run id (or a unique prefix or suffix)")
    export.add_argument(
        "--merged", action=argparse.BooleanOptionalAction, default=None,
        help="merge the adapter into the base weights (default: where peft can, "
        f"{_and_list([m.label for m in METHODS if m.mergeable])}; refused for the other "
        "methods); --no-merged exports the adapter",
    )
    export.add_argument("--out", metavar="DIR",
                        help="where to write it: a new or empty folder (default: "
                        "<runs-dir>/RUN/export)")
    export.add_argument("--force", action="store_true",
                        help="replace an earlier export in --out")
    export.add_argument("--json", action="store_true",
                        help="one JSON document: out, kind (full, merged, adapter), loads_with, "
                        "files, ...")
    export.set_defaults(handler=handle_export)


def handle_export(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    paths = store.find(args.run)
    # lazy: keeps `emotui --help` fast (196 ms)
    from emotui.train.export import export_run

    result = export_run(paths, args.out, args.merged, force=args.force)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    what = {"full": "the whole fine-tuned model", "merged": "the adapter merged into its base",
            "adapter": f"the adapter, naming its base {result.base_model}"}[result.kind]
    print(result.out)
    print(f"{'replaced the export of' if result.replaced else 'exported'} run {result.run_id}: "
          f"{what}; {result.loads_with} load it (README.md has the lines); checked on "
          f"{result.checked_texts} texts", file=sys.stderr)
    return 0
