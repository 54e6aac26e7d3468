"""Command-line flags generated from the run config schema, and friendly argparse errors.

Flags keep the study's spelling (``--learning_rate``) and also take dashes (``--learning-rate``),
as HfArgumentParser did. Values are parsed by the config layer, not argparse, so a bad value gets
the same message from a flag, a YAML file or a sweep.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any

from emotui.core import config as cfg

CONFIG_DEST_PREFIX = "cfg__"  # keeps config values apart from the command's own options
_BOOL_METAVAR = "{true,false}"


def _spellings(name: str) -> list[str]:
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    return flags


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (grouped as in the schema), plus --method and --config."""
    main = parser.add_argument_group("run config")
    main.add_argument(
        "--config", dest="config_file", metavar="FILE", default=None,
        help="YAML file of settings (flat keys as below; optional slurm:/wandb: sections); "
        "flags override it",
    )
    main.add_argument(
        "--method", dest=CONFIG_DEST_PREFIX + "method", default=argparse.SUPPRESS,
        metavar="{full,lora,prompt-text,prompt-random}",
        help="short for --peft_method (+ --prompt_tuning_init_text for prompt-text)",
    )
    aliases: dict[str, list[str]] = {}
    for alias, target in cfg.KEY_ALIASES.items():
        if alias != target:
            aliases.setdefault(target, []).append(alias)
    groups = {g: parser.add_argument_group(f"{g} options") for g in cfg.GROUPS}
    for name, f in cfg.FIELDS.items():
        if name == "extra_training_args":
            continue
        meta = f.metadata
        flags = _spellings(name) + [s for a in aliases.get(name, []) for s in _spellings(a)]
        typ = cfg.field_type(name)
        default = "from $HF_TOKEN" if meta.get("secret") else f.default
        help_text = f"{meta['help']} (default: {default})"
        kwargs: dict[str, Any] = dict(dest=CONFIG_DEST_PREFIX + name, default=argparse.SUPPRESS,
                                      help=help_text)
        if typ is bool:
            kwargs.update(nargs="?", const="true", metavar=_BOOL_METAVAR)
        elif meta.get("choices"):
            kwargs["metavar"] = "{" + ",".join(str(c) for c in meta["choices"] if c) + "}"
        else:
            kwargs["metavar"] = typ.__name__.upper()
        groups[meta["group"]].add_argument(*flags, **kwargs)
    extra = parser.add_argument_group(
        "other TrainingArguments",
        "Any other transformers.TrainingArguments flag of the study (e.g. --optim, "
        "--logging_strategy) is accepted, saved, and applied by --recipe reference.",
    )
    for name in sorted(cfg.EXTRA_TRAINING_ARGS):
        extra.add_argument(
            *_spellings(name), dest=CONFIG_DEST_PREFIX + name, default=argparse.SUPPRESS,
            nargs="?", const="true", help=argparse.SUPPRESS,
        )


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config settings given on the command line (only those actually given)."""
    values = {}
    for dest, value in vars(args).items():
        if dest.startswith(CONFIG_DEST_PREFIX):
            key = dest[len(CONFIG_DEST_PREFIX):]
            if key in cfg.EXTRA_TRAINING_ARGS and isinstance(value, str):
                value = _scalar(value)
            values[key] = value
    return values


def _scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def config_from_args(
    args: argparse.Namespace, extra_layers: list[tuple[str, dict[str, Any]]] | None = None,
) -> tuple[cfg.RunConfig, dict[str, Any]]:
    """Defaults < user config file < extra layers < --config file < flags -> (config, sections)."""
    from emotui.core.userconfig import load_user_config, user_config_path

    user_run, _user_sections = cfg.split_sections(load_user_config())
    layers = [(str(user_config_path()), user_run)] if user_run else []
    layers += list(extra_layers or [])
    sections: dict[str, Any] = {}
    if getattr(args, "config_file", None):
        data = cfg.read_yaml_mapping(args.config_file)
        run, sections = cfg.split_sections(data)
        layers.append((args.config_file, run))
    layers.append(("command line", flag_values(args)))
    config, _ = cfg.build_config(layers)
    return config, sections


def unknown_argument_message(parser: argparse.ArgumentParser, bad: str) -> str:
    """'unknown flag --lerning_rate; did you mean --learning_rate?' for the given (sub)parser."""
    flag = bad.split("=", 1)[0]
    if not flag.startswith("-"):
        return f"unexpected argument '{bad}'; see '{parser.prog} --help'"
    options = [o for a in _all_actions(parser) for o in a.option_strings]
    close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; see '{parser.prog} --help'"
    return f"unknown flag {flag}{hint}"


def explain_argparse_error(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with a 'did you mean' for an unknown flag and a pointer to --help."""
    match = re.search(r"unrecognized arguments: (\S+)", message)
    if match:
        return unknown_argument_message(parser, match.group(1))
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if match:
        choices = re.findall(r"'([^']*)'", match.group(2))
        close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown command '{match.group(1)}'; {hint}see 'emotui --help'"
    return f"{message}; see '{parser.prog} --help'"


def _all_actions(parser: argparse.ArgumentParser):
    yield from parser._actions  # argparse keeps no public list of options
