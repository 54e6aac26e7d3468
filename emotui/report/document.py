"""The report, assembled: which runs, the pick per method, costs, figures, every configuration,
each sweep. Format-neutral (blocks.py); the renderers only typeset it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from emotui.core.errors import ConfigError
from emotui.core.vocabulary import Event, ResultKey
from emotui.report import cost_figure, figures, tables
from emotui.report.blocks import Caution, Figure, Heading, Paragraph, Report
from emotui.report.gather import Gathered
from emotui.report.labels import method_label, method_order
from emotui.report.pareto import pareto_front
from emotui.report.select import (
    DATA_KEYS,
    MODEL_KEYS,
    SHOWN_SETTINGS,
    Configuration,
    Differences,
    Scope,
    best_per_method,
    describe_settings,
    differing_settings,
    group_by_seed,
    split_by_scope,
    unpickable_methods,
)
from emotui.sweep.summary import summarize_sweep

PARETO_CAUTION = ("The Pareto fronts are drawn on test accuracy: they show the trade-off "
                  "between accuracy and cost, they pick nothing. Every configuration in this "
                  "report is picked on validation accuracy.")


def _by_method(configs: list[Configuration]) -> dict[str | None, list[Configuration]]:
    out: dict[str | None, list[Configuration]] = {}
    for config in sorted(configs, key=lambda c: (method_order(c.method), str(c.method))):
        out.setdefault(config.method, []).append(config)
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class Section:
    """The runs of one model on one dataset: the report compares them with each other only."""

    scope: Scope
    label: str
    configs: list[Configuration]
    by_method: dict[str | None, list[Configuration]]
    keys: dict[str | None, Differences]
    best: dict[str | None, Configuration]

    @property
    def ordered_best(self) -> list[Configuration]:
        return [self.best[m] for m in self.by_method if m in self.best]


def _sections(finished: list[Any]) -> list[Section]:
    split = split_by_scope(finished)
    short = [scope.label() for scope, _ in split]
    # Two sections that read the same when shortened are named in full.
    labels = [scope.label(short=short.count(label) == 1) for (scope, _), label in
              zip(split, short)]
    sections = []
    for (scope, runs), label in zip(split, labels):
        configs = group_by_seed(runs)
        by_method = _by_method(configs)
        same = MODEL_KEYS + DATA_KEYS  # the section's own: the same for all its runs
        sections.append(Section(scope, label, configs, by_method,
                                {m: differing_settings(cs, same) for m, cs in by_method.items()},
                                best_per_method(configs)))
    return sections


def build_report(gathered: Gathered, *, draw: bool = True, title: str = "emotui report") -> Report:
    """The report of the gathered runs; ConfigError when none of them finished. Runs on
    different models or datasets get a section each and are never compared with each other."""
    finished = [r for r in gathered.runs if r.finished]
    if not finished:
        raise ConfigError(
            f"no finished runs to report among {_plural(len(gathered.runs), 'run')} in "
            f"{gathered.store.root}; a report needs completed runs with a validation or test "
            "accuracy ('emotui ls' shows their states)")
    sections = _sections(finished)
    configs = [c for section in sections for c in section.configs]
    methods = {c.method for c in configs}
    sources = sorted({r.source for r in finished})

    blocks: list[Any] = [Paragraph(
        f"{_plural(len(finished), 'finished run')} ({_plural(len(configs), 'configuration')} of "
        f"{_plural(len(methods), 'method')}) from {', '.join(sources)}"
        + (f"; {len(gathered.runs) - len(finished)} unfinished left out" if
           len(gathered.runs) > len(finished) else "") + ".")]
    blocks += [Caution(w) for w in gathered.warnings]
    blocks += [Paragraph(n) for n in gathered.notes]
    if len(sections) == 1:
        blocks.append(Paragraph(f"Model and data: {sections[0].label}."))
        blocks += _section_blocks(sections[0], draw, level=1, suffix="")
    else:
        blocks.append(Paragraph(
            f"These runs trained {len(sections)} different combinations of model and data: "
            "each has its own section below, with its own tables and Pareto fronts; runs of "
            "different sections are never compared with each other."))
        for number, section in enumerate(sections, 1):
            blocks.append(Heading(section.label))
            blocks += _section_blocks(section, draw, level=2, suffix=f"-{number}")
    blocks += _sweep_blocks(gathered)
    if len(sections) == 1:
        best: dict[Any, Configuration] = dict(sections[0].best)
    else:
        best = {f"{s.label}: {m}": c for s in sections for m, c in s.best.items()}
    return Report(
        title=title,
        subtitle=time.strftime("%Y-%m-%d %H:%M", time.localtime()),
        blocks=blocks,
        data={"configurations": configs, "best": best, "runs": finished,
              "sections": sections},
    )


def _section_blocks(section: Section, draw: bool, *, level: int, suffix: str) -> list[Any]:
    """One model-and-data's tables and figures; ``suffix`` keeps its figures' names apart."""
    blocks: list[Any] = [Heading("Best configuration per method", level)]
    blocks.append(tables.best_table([(c, section.keys[c.method])
                                     for c in section.ordered_best]))
    for method in unpickable_methods(section.configs):
        blocks.append(Caution(
            f"{method_label(method)}: no run has a validation accuracy, so no configuration is "
            "picked (the test split is never used to choose)."))
    blocks.append(Heading("Cost", level))
    blocks.append(tables.cost_table(section.ordered_best))
    hours = [tables.gpu_hours(c) for c in section.configs]
    known = [h for h, _ in hours if h is not None]
    runs = sum(len(c.runs) for c in section.configs)
    if known:
        unit = "hours on a CPU" if all(on_cpu for _, on_cpu in hours) else "GPU-hours"
        blocks.append(Paragraph(
            f"All {_plural(runs, 'run')} of this {'section' if suffix else 'report'} trained "
            f"for {sum(known):.3f} {unit} together."))

    if draw:
        blocks += _figures(section, level, suffix)

    blocks.append(Heading("All configurations", level))
    for method, method_configs in section.by_method.items():
        keys = section.keys[method]
        blocks.append(tables.configurations_table(method, method_configs, keys,
                                                  section.best.get(method)))
        longer = [c for c in method_configs if len(keys.of(c)) > SHOWN_SETTINGS]
        if longer:
            blocks.append(Paragraph(
                f"{method_label(method)}, every setting that tells its configurations apart: "
                + "; ".join(f"{c.label}: {describe_settings(c, keys)}" for c in longer) + "."))
    return blocks


def _figures(section: Section, level: int, suffix: str) -> list[Any]:
    blocks: list[Any] = []
    tested = [c for c in section.configs if c.stat(ResultKey.TEST_ACCURACY).mean is not None]
    for cost, xlabel, column, name, what in (
            (ResultKey.TRAINABLE_PARAMS, "trainable parameters", "Trainable params",
             "accuracy_vs_params", "trainable parameters"),
            (ResultKey.TRAIN_RUNTIME_S, "training time (s)", "Train time",
             "accuracy_vs_time", "training time")):
        measured = [c for c in tested if c.stat(cost).mean is not None]
        if len(measured) < 2:  # one point shows no trade-off: the cost table says it all
            continue
        points = [cost_figure.Point(
            x=c.stat(cost).mean, y=c.stat(ResultKey.TEST_ACCURACY).mean,
            yerr=c.stat(ResultKey.TEST_ACCURACY).std, method=c.method,
            collapsed=c.collapsed_runs == len(c.runs)) for c in measured]
        front = pareto_front([(p.x, p.y) for p in points])
        if not blocks:
            blocks += [Heading("Accuracy against cost", level), Caution(PARETO_CAUTION)]
        blocks.append(Figure(name + suffix, cost_figure.accuracy_vs_cost(
            points, front, xlabel=xlabel, log_x=True, name=name + suffix),
            f"Test accuracy against {what}, every configuration (mean ± std over seeds; a "
            "cross: all its runs collapsed); numbered: the Pareto front, named in the table "
            "below.", kind=name))
        blocks.append(tables.front_table([measured[i] for i in front], section.keys, cost,
                                         column))

    series = [(c.method, r.run_id, r.eval_curve()) for c in section.ordered_best for r in c.runs]
    if any(points for _, _, points in series):
        blocks.append(Heading("Validation accuracy during training", level))
        blocks.append(Figure("eval_curves" + suffix,
                             figures.eval_curves(series, name="eval_curves" + suffix),
                             "Validation accuracy at each evaluation of every run (all seeds) of "
                             "each method's picked configuration.", kind="eval_curves"))

    panels = []
    for config in section.ordered_best:
        run = config.best_run
        matrix = run.results.get(ResultKey.CONFUSION_MATRIX)
        names = run.results.get(ResultKey.LABEL_NAMES)
        if matrix and names and len(names) == len(matrix):
            panels.append((f"{method_label(config.method)} ({run.run_id})", matrix, names))
    if panels:
        blocks.append(Heading("Confusion matrices", level))
        blocks.append(Figure("confusion" + suffix,
                             figures.confusion_matrices(panels, name="confusion" + suffix),
                             "Test split, each method's picked configuration (its run with the "
                             "best validation accuracy); rows: true label, in % of the label's "
                             "examples.", kind="confusion"))
        blocks += tables.confused_pairs_tables(panels)
    return blocks


def _sweep_blocks(gathered: Gathered) -> list[Any]:
    blocks: list[Any] = []
    for sweep in gathered.sweeps:
        summary = summarize_sweep(sweep, gathered.store)
        if not summary["rows"]:
            continue
        if not blocks:
            blocks.append(Heading("Sweeps"))
        blocks.append(Heading(f"Sweep {summary['sweep_id']}", level=2))
        metric = str((summary.get("metric") or {}).get("name") or "")
        if metric.startswith(Event.TEST):
            blocks.append(Caution(
                f"This sweep is sorted by {metric}, a test metric: its order (and its 'best' "
                "trial) is optimistic. Sweep on eval/accuracy to choose honestly."))
        elif not metric:
            blocks.append(Paragraph("The sweep has no metric: trials in the order they ran."))
        blocks.append(tables.sweep_table(summary))
    return blocks
