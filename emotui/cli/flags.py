"""Command-line flags generated from the settings schemas, and friendly argparse errors.

Flags keep the study's spelling (``--learning_rate``) and also take dashes (``--learning-rate``),
as HfArgumentParser did; a method's setting also takes its group's spelling (``--lora.r``).
Values are parsed by the config layer, not argparse, so a bad value gets the same message from a
flag, a YAML file or a sweep. This is the one place that knows argparse: parsed flags leave it as
plain mappings of settings (``schema_flag_values``), which the settings layers take.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, Callable, Mapping

from emotui.core import config as cfg
from emotui.core import methods
from emotui.core.config_files import read_yaml_mapping, split_sections
from emotui.core.errors import quoted
from emotui.core.general_settings import GROUPS
from emotui.core.settings import FieldSpec, Schema
from emotui.core.userconfig import user_layer
from emotui.core.yaml_load import load_yaml
from emotui.tracking.settings import WANDB_SETTINGS, run_choices_from
from emotui.tracking.trackers import all_trackers

# Keeps config values apart from the command's own options (RUN_SETTINGS' dest prefix).
CONFIG_DEST_PREFIX = cfg.RUN_SETTINGS.dest_prefix

# ---------------------------------------------------------------------------------------------
# Flags of a settings schema (run config, Slurm, W&B)
# ---------------------------------------------------------------------------------------------

_BOOL_METAVAR = "{true,false}"


def metavar(spec: FieldSpec) -> str:
    if spec.metavar:
        return spec.metavar
    if spec.type is bool:
        return _BOOL_METAVAR
    if spec.choices:
        return "{" + ",".join(str(c) for c in spec.choices if c is not None) + "}"
    return spec.type.__name__.upper()


def add_schema_flags(schema: Schema, group_of: Callable[[str], Any]) -> None:
    """One flag per field that has one; ``group_of(spec.group)`` gives the argparse group.

    Values stay raw text: the layering coerces and checks them, so a bad value gets the same
    message from a flag, a YAML file, a sweep or the form.
    """
    for spec in schema.fields.values():
        if not spec.flag:
            continue
        kwargs: dict[str, Any] = dict(dest=schema.dest(spec), default=None, help=spec.describe(),
                                      metavar=metavar(spec))
        if spec.type is bool:
            kwargs.update(nargs="?", const="true")
        if spec.repeatable:
            kwargs["action"] = "append"
        group_of(spec.group).add_argument(*schema.flag_spellings(spec), **kwargs)


def schema_flag_values(schema: Schema, args: argparse.Namespace) -> dict[str, Any]:
    """The schema's settings given on the command line (only those actually given), by name."""
    out = {}
    for spec in schema.fields.values():
        value = getattr(args, schema.dest(spec), None) if spec.flag else None
        if value is not None:
            out[spec.name] = value
    return out


# ---------------------------------------------------------------------------------------------
# The run config's flags
# ---------------------------------------------------------------------------------------------


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
        help="YAML file of settings (keys as the flags below, a method's also by group: "
        "lora: {r: 8}; optional slurm:/wandb: sections); flags override it",
    )
    main.add_argument(
        "--method", dest=CONFIG_DEST_PREFIX + "method", default=argparse.SUPPRESS,
        metavar="{" + ",".join(methods.aliases()) + "}", help=methods.METHOD_FLAG_HELP,
    )
    groups = {g: parser.add_argument_group(f"{g} options") for g in GROUPS}
    add_schema_flags(cfg.RUN_SETTINGS, groups.__getitem__)
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
    values = schema_flag_values(cfg.RUN_SETTINGS, args)
    # --method and the other TrainingArguments: present only when given (argparse.SUPPRESS).
    for dest, value in vars(args).items():
        key = dest[len(CONFIG_DEST_PREFIX):]
        if not dest.startswith(CONFIG_DEST_PREFIX) or key in cfg.FIELDS:
            continue
        if key in cfg.EXTRA_TRAINING_ARGS and isinstance(value, str):
            value = _scalar(value, f"--{key}")
        values[key] = value
    return values


def _scalar(text: str, what: str) -> Any:
    import yaml

    try:
        return load_yaml(text, what)
    except yaml.YAMLError:
        return text


def config_from_args(
    args: argparse.Namespace, extra_layers: list[tuple[str, dict[str, Any]]] | None = None,
) -> tuple[cfg.RunConfig, dict[str, Any]]:
    """Defaults < user config file < extra layers < --config file < flags -> (config, sections)."""
    layers = [user_layer(), *(extra_layers or [])]
    sections: dict[str, Any] = {}
    if getattr(args, "config_file", None):
        data = read_yaml_mapping(args.config_file)
        run, sections = split_sections(data)
        layers.append((args.config_file, run))
    layers.append(("command line", flag_values(args)))
    config, _ = cfg.build_config(layers)
    return config, sections


# ---------------------------------------------------------------------------------------------
# Tracker flags (emotui run, sweep, study): W&B's, trackio's
# ---------------------------------------------------------------------------------------------


def add_tracker_flags(parser: argparse.ArgumentParser) -> None:
    """Each tracker's settings as a group of flags (--wandb-project, --trackio-project, ...)."""
    for tracker in all_trackers():
        group = parser.add_argument_group(
            f"{tracker.label} (with --report_to {tracker.name})", tracker.flags_help)
        add_schema_flags(tracker.settings, lambda _group, group=group: group)


def tracker_status_fields(args: argparse.Namespace,
                          sections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a new run's status.json starts with: each tracker's own choices (its flags over
    the --config file's section), under its status key (wandb_settings, trackio_settings)."""
    fields: dict[str, Any] = {}
    for tracker in all_trackers():
        choices = tracker.run_choices(schema_flag_values(tracker.settings, args), sections,
                                      config_file=getattr(args, "config_file", None))
        if choices:
            fields[tracker.status_key] = choices
    return fields


def wandb_run_choices(args: argparse.Namespace,
                      sections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run's own W&B choices: the --config file's wandb: section overridden by the flags."""
    return run_choices_from(schema_flag_values(WANDB_SETTINGS, args), sections,
                            config_file=getattr(args, "config_file", None))


# ---------------------------------------------------------------------------------------------
# argparse's errors as one line
# ---------------------------------------------------------------------------------------------


class DashValue(argparse.Action):
    """An option taking one value that may start with '-' (``--sort -test_accuracy``): argparse
    alone reads such a value as an unknown flag and says "expected one argument"."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)


def join_dash_values(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """``--opt -value`` as ``--opt=-value`` for the parser's DashValue options, so argparse takes
    the value; a value that is one of the parser's own flags stays a flag."""
    options = {s for a in _all_actions(parser) if isinstance(a, DashValue)
               for s in a.option_strings}
    if not options:
        return args
    known = {s for a in _all_actions(parser) for s in a.option_strings}
    out: list[str] = []
    pending = iter(args)
    for arg in pending:
        if arg == "--":  # everything after it is positional already
            out.append(arg)
            out.extend(pending)
            break
        if arg in options:
            value = next(pending, None)
            if value is not None and value.startswith("-") and len(value) > 1 \
                    and value.split("=", 1)[0] not in known:
                out.append(f"{arg}={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
            continue
        out.append(arg)
    return out


def unknown_argument_message(parser: argparse.ArgumentParser, bad: str) -> str:
    """'unknown flag --lerning_rate; did you mean --learning_rate?' for the given (sub)parser."""
    flag = bad.split("=", 1)[0]
    if not flag.startswith("-"):
        return f"unexpected argument {quoted(bad)}; see '{parser.prog} --help'"
    options = [o for a in _all_actions(parser) for o in a.option_strings]
    close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; see '{parser.prog} --help'"
    return f"unknown flag {quoted(flag)[1:-1] if len(flag) > 40 else flag}{hint}"


# argparse's messages, as parser.error() receives them ("argument --backend: invalid choice:
# 'x' (choose from 'inline', 'local')"): the option, then what is wrong with its value.
_ARGUMENT = re.compile(r"^argument (?P<name>\S+?): (?P<problem>.*)$", re.DOTALL)
_CHOICE = re.compile(r"^invalid choice: (?P<value>'.*'|\".*\") \(choose from (?P<choices>.*)\)$",
                     re.DOTALL)
_TYPED = re.compile(r"^invalid (?P<type>int|float) value: (?P<value>.*)$", re.DOTALL)
_TYPE_NAMES = {"int": "an integer", "float": "a number"}


def explain_argparse_error(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message as one line that names the option and, for a choice, its allowed
    values ('--backend: unknown choice 'x'; choose one of: inline, local, slurm'); an unknown
    flag gets a 'did you mean'; values are quoted cut short; anything else points to --help."""
    match = re.search(r"unrecognized arguments: (\S+)", message)
    if match:
        return unknown_argument_message(parser, match.group(1))
    argument = _ARGUMENT.match(message)
    if argument is None:
        return f"{' '.join(message.split())}; see '{parser.prog} --help'"
    name = argument.group("name").split("/")[0]  # --backend/-b: its first spelling
    problem = argument.group("problem")
    choice = _CHOICE.match(problem)
    if choice:
        value = _literal(choice.group("value"))
        choices = [str(_literal(c.strip())) for c in _split_choices(choice.group("choices"))]
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
        if name == _COMMAND_METAVAR:
            hint = f"did you mean '{close[0]}'? " if close else ""
            return f"unknown command {quoted(value)}; {hint}see 'emotui --help'"
        return (f"{name}: unknown choice {quoted(value)}; choose one of: {', '.join(choices)}"
                + (f"; did you mean '{close[0]}'?" if close else ""))
    typed = _TYPED.match(problem)
    if typed:
        value = _literal(typed.group("value"))
        return f"{name}: {quoted(value)} is not {_TYPE_NAMES[typed.group('type')]}"
    if problem.startswith("expected one argument"):
        return f"{name} needs a value; see '{parser.prog} --help'"
    return f"{name}: {' '.join(problem.split())}; see '{parser.prog} --help'"


# The metavar of the subcommand argument (cli.main): its invalid choices are unknown commands.
_COMMAND_METAVAR = "COMMAND"


def _literal(text: str):
    import ast

    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def _split_choices(text: str) -> list[str]:
    """"'a', 'b, c', 'd'" -> the three reprs (a choice may hold a comma)."""
    return re.findall(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s][^,]*", text)


def _all_actions(parser: argparse.ArgumentParser):
    yield from parser._actions  # argparse keeps no public list of options
