"""The report, assembled: which runs, the pick per method, costs, figures, every configuration,
each sweep. Format-neutral (blocks.py); the renderers only typeset it."""

from __future__ import annotations

import time
from typing import Any

from emotui.core.errors import ConfigError
from emotui.report import tables
from emotui.report.blocks import Caution, Figure, Heading, Paragraph, Report
from emotui.report.gather import Gathered
from emotui.report.labels import method_label, method_order
from emotui.report.pareto import pareto_front
from emotui.report.select import (
    Configuration,
    best_per_method,
    describe_settings,
    differing_settings,
    group_by_seed,
    unpickable_methods,
)

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


def build_report(gathered: Gathered, *, draw: bool = True, title: str = "emotui report") -> Report:
    """The report of the gathered runs; ConfigError when none of them finished."""
    finished = [r for r in gathered.runs if r.finished]
    if not finished:
        raise ConfigError(
            f"no finished runs to report among {_plural(len(gathered.runs), 'run')} in "
            f"{gathered.store.root}; a report needs completed runs with a validation or test "
            "accuracy ('emotui ls' shows their states)")
    configs = group_by_seed(finished)
    by_method = _by_method(configs)
    keys = {m: differing_settings(cs) for m, cs in by_method.items()}
    best = best_per_method(configs)
    ordered_best = [best[m] for m in by_method if m in best]
    sources = sorted({r.source for r in finished})

    blocks: list[Any] = [Paragraph(
        f"{_plural(len(finished), 'finished run')} ({_plural(len(configs), 'configuration')} of "
        f"{_plural(len(by_method), 'method')}) from {', '.join(sources)}"
        + (f"; {len(gathered.runs) - len(finished)} unfinished left out" if
           len(gathered.runs) > len(finished) else "") + ".")]
    blocks += [Caution(w) for w in gathered.warnings]
    blocks += [Paragraph(n) for n in gathered.notes]

    blocks.append(Heading("Best configuration per method"))
    blocks.append(tables.best_table([(c, keys[c.method]) for c in ordered_best]))
    for method in unpickable_methods(configs):
        blocks.append(Caution(
            f"{method_label(method)}: no run has a validation accuracy, so no configuration is "
            "picked (the test split is never used to choose)."))
    blocks.append(Heading("Cost"))
    blocks.append(tables.cost_table(ordered_best))
    hours = [tables.gpu_hours(c) for c in configs]
    known = [h for h, _ in hours if h is not None]
    if known:
        unit = "hours on a CPU" if all(on_cpu for _, on_cpu in hours) else "GPU-hours"
        blocks.append(Paragraph(
            f"All {_plural(len(finished), 'run')} of this report trained for "
            f"{sum(known):.3f} {unit} together."))

    if draw:
        blocks += _figures(configs, ordered_best, keys)

    blocks.append(Heading("All configurations"))
    for method, method_configs in by_method.items():
        blocks.append(tables.configurations_table(method, method_configs, keys[method],
                                                  best.get(method)))
    blocks += _sweep_blocks(gathered)
    return Report(
        title=title,
        subtitle=time.strftime("%Y-%m-%d %H:%M", time.localtime()),
        blocks=blocks,
        data={"configurations": configs, "best": best, "runs": finished},
    )


def _front_text(points: list[Any], front: list[int]) -> str:
    return "; ".join(points[i].label for i in front)


def _figures(configs: list[Configuration], best: list[Configuration],
             keys: dict[str | None, list[str]]) -> list[Any]:
    from emotui.report import figures

    blocks: list[Any] = []
    tested = [c for c in configs if c.stat("test_accuracy").mean is not None]
    for cost, xlabel, log_x, name, what in (
            ("trainable_params", "trainable parameters", True,
             "accuracy_vs_params", "trainable parameters"),
            ("train_runtime_s", "training time (s)", True,
             "accuracy_vs_time", "training time")):
        measured = [c for c in tested if c.stat(cost).mean is not None]
        if not measured:
            continue
        points = [figures.Point(
            x=c.stat(cost).mean, y=c.stat("test_accuracy").mean, yerr=c.stat("test_accuracy").std,
            method=c.method, collapsed=c.collapsed_runs == len(c.runs),
            label=f"{method_label(c.method)}, {describe_settings(c, keys[c.method])}")
            for c in measured]
        front = pareto_front([(p.x, p.y) for p in points])
        if not blocks:
            blocks += [Heading("Accuracy against cost"), Caution(PARETO_CAUTION)]
        blocks.append(Figure(name, figures.accuracy_vs_cost(
            points, front, xlabel=xlabel, log_x=log_x, name=name),
            f"Test accuracy against {what}, every configuration (mean ± std over seeds; a "
            "cross: all its runs collapsed); "
            f"Pareto front: {_front_text(points, front)}."))

    series = [(c.method, r.run_id, r.eval_curve()) for c in best for r in c.runs]
    if any(points for _, _, points in series):
        blocks.append(Heading("Validation accuracy during training"))
        blocks.append(Figure("eval_curves", figures.eval_curves(series, name="eval_curves"),
                             "Validation accuracy at each evaluation of every run (all seeds) of "
                             "each method's picked configuration."))

    panels = []
    for config in best:
        run = config.best_run
        matrix, names = run.results.get("confusion_matrix"), run.results.get("label_names")
        if matrix and names and len(names) == len(matrix):
            panels.append((f"{method_label(config.method)} ({run.run_id})", matrix, names))
    if panels:
        blocks.append(Heading("Confusion matrices"))
        blocks.append(Figure("confusion", figures.confusion_matrices(panels, name="confusion"),
                             "Test split, each method's picked configuration (its run with the "
                             "best validation accuracy); rows: true label, in % of the label's "
                             "examples."))
    return blocks


def _sweep_blocks(gathered: Gathered) -> list[Any]:
    from emotui.sweep.summary import summarize_sweep

    blocks: list[Any] = []
    for sweep in gathered.sweeps:
        summary = summarize_sweep(sweep, gathered.store)
        if not summary["rows"]:
            continue
        if not blocks:
            blocks.append(Heading("Sweeps"))
        blocks.append(Heading(f"Sweep {summary['sweep_id']}", level=2))
        metric = str((summary.get("metric") or {}).get("name") or "")
        if metric.startswith("test"):
            blocks.append(Caution(
                f"This sweep is sorted by {metric}, a test metric: its order (and its 'best' "
                "trial) is optimistic. Sweep on eval/accuracy to choose honestly."))
        elif not metric:
            blocks.append(Paragraph("The sweep has no metric: trials in the order they ran."))
        blocks.append(tables.sweep_table(summary))
    return blocks
