"""What a study leaves behind: each method's test results (mean ± std over its confirm seeds),
the report, and each method's confirmed best exported as a plain Hugging Face folder.

The test split is read here for the first time: the winners were picked on validation during
search, and the run exported for a method is its confirm run with the best validation value.
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path
from typing import Any

from emotui.core import methods
from emotui.core.errors import ConfigError
from emotui.core.events import read_all
from emotui.core.results import load_config_dict
from emotui.core.runstore import RunStore, read_json
from emotui.core.status import read_status
from emotui.core.vocabulary import EventField, ResultKey
from emotui.report import formatting as fmt
from emotui.report.blocks import Caution, Heading, Paragraph, Table
from emotui.report.document import build_report
from emotui.report.gather import gather
from emotui.report.labels import method_label
from emotui.report.output import write_report as write_one
from emotui.study.spec import StudySpec
from emotui.study.store import StudyPaths
from emotui.sweep.store import SweepStore
from emotui.sweep.summary import is_collapsed

STAT_KEYS = (ResultKey.TEST_ACCURACY, ResultKey.TEST_MACRO_F1, ResultKey.EVAL_ACCURACY,
             ResultKey.EVAL_MACRO_F1, ResultKey.TRAIN_RUNTIME_S)


def _stat(values: list[float]) -> dict[str, Any]:
    # Rounded far below what was measured (accuracies are counts over thousands of texts), so
    # status.json, --json and TSV say 0.763, not the float sum's 0.7629999999999999.
    return {"mean": round(statistics.fmean(values), 10) if values else None,
            "std": round(statistics.stdev(values), 10) if len(values) >= 2 else None,
            "n": len(values)}


def run_result(store: RunStore, run_id: str) -> dict[str, Any]:
    """One run's state, seed and results as the test phase keeps them."""
    paths = store.paths(run_id)
    status = read_status(paths)
    results = read_json(paths.results) or {}
    config = load_config_dict(paths)
    out = {"run_id": run_id, "state": status.get("state"), "seed": config.get("seed"),
           ResultKey.COLLAPSED: is_collapsed(results, read_all(paths.metrics))}
    out.update({key: results.get(key) for key in STAT_KEYS})
    return out


def test_results(store: RunStore, run_ids: list[str], metric_key: str, *,
                 source: str) -> dict[str, Any]:
    """Mean ± sample std of the completed runs' metrics, and the run with the highest validation
    ``metric_key`` (eval_accuracy or eval_macro_f1; a collapsed run only when all are): the one
    exported."""
    runs = [run_result(store, rid) for rid in run_ids]
    done = [r for r in runs if r["state"] == "completed"]
    out: dict[str, Any] = {
        "source": source, "runs": runs, "completed": len(done),
        "failed": sum(1 for r in runs if r["state"] not in ("completed",)),
        ResultKey.COLLAPSED: sum(1 for r in done if r[ResultKey.COLLAPSED]),
    }
    for key in STAT_KEYS:
        out[key] = _stat([float(r[key]) for r in done if isinstance(r[key], (int, float))])
    scored = [r for r in done if isinstance(r.get(metric_key), (int, float))]
    healthy = [r for r in scored if not r[ResultKey.COLLAPSED]] or scored
    best = None
    if healthy:
        order = {r["run_id"]: n for n, r in enumerate(runs)}  # ties: the first seed
        best = min(healthy, key=lambda r: (-r[metric_key], order[r["run_id"]]))["run_id"]
    out["best_run"] = best
    return out


# -- the report ---------------------------------------------------------------------------------


def write_report(spec: StudySpec, state: dict[str, Any], store: RunStore,
                 paths: StudyPaths) -> list[Path]:
    """The report of the study's confirm runs (a method without confirm: its winner), with its
    search sweeps' tables, in the study's formats, into report/. ConfigError when no run
    finished."""
    refs = []
    for method in spec.methods:
        record = state["methods"][method]
        test = record.get("test") or {}
        refs += [r["run_id"] for r in test.get("runs") or []]
    if not refs:
        raise ConfigError("no run to report: no method has a winner")
    gathered = gather(store, refs)
    sweeps = SweepStore(store.root)
    for method in spec.methods:
        for part in ("search", "confirm"):
            sweep_id = state["methods"][method][part]["sweep_id"]
            if sweeps.paths(sweep_id).spec.exists():
                gathered.sweeps.append(sweeps.paths(sweep_id))
    report = build_report(gathered, title=spec.title)
    report.blocks[0:0] = study_blocks(spec, state)
    paths.report.mkdir(parents=True, exist_ok=True)
    for stale in paths.report.glob(".report.*"):  # staging left by a killed study
        shutil.rmtree(stale, ignore_errors=True)
    written: list[Path] = []
    targets = {"pdf": ("typst", "report.typ", True), "md": ("markdown", "report.md", False),
               "html": ("html", "report.html", False)}
    for wanted in spec.report_formats:
        kind, name, pdf = targets[wanted]
        written += write_one(report, kind, paths.report / name, pdf=pdf)
    return sorted(set(written))


def study_blocks(spec: StudySpec, state: dict[str, Any]) -> list[Any]:
    """The report's first section: what the study did, per method, and its notes."""
    seeds = ", ".join(str(s) for s in spec.confirm_seeds)
    blocks: list[Any] = [Heading("Study"), Paragraph(
        f"Study {state['study_id']} searched {len(spec.methods)} method"
        f"{'s' if len(spec.methods) != 1 else ''}, picked each winner on {spec.metric.name} "
        "(validation; the test split was not read to choose), "
        + (f"reran each winner with seeds {seeds}" if seeds else "kept each winner's search run")
        + " and reports test results below as mean ± sample standard deviation.")]
    rows = []
    for method, search in spec.methods.items():
        record = state["methods"][method]
        winner = record.get("winner") or {}
        test = record.get("test") or {}
        acc = test.get(ResultKey.TEST_ACCURACY) or {}
        rows.append([
            method_label(method), str(record["search"].get("trials") or "-"),
            str(search.planned or "-"),
            fmt.percent(winner.get("value")) if EventField.ACCURACY in spec.metric.name
            or "f1" in spec.metric.name else fmt.plain(winner.get("value")),
            str(test.get("completed") or 0),
            _mean_std(acc),
        ])
    percent = EventField.ACCURACY in spec.metric.name or "f1" in spec.metric.name
    blocks.append(Table(["Method", "Search trials", "Planned",
                         f"Winner {spec.metric.name}" + (" %" if percent else ""),
                         "Confirm runs", "Test acc. %"], rows,
                        [False, True, True, True, True, True],
                        caption="Search trials run (a budget may stop search early), the "
                        "winner's validation value in search, and its confirm runs' test "
                        "accuracy."))
    if spec.confirm_seeds:
        changes = [f"{method_label(m)}: " + ", ".join(f"{k}={v}" for k, v in
                                                      spec.confirm_changes(m).items())
                   for m in spec.methods if spec.confirm_changes(m)]
        if changes:
            blocks.append(Paragraph("The confirm runs change these settings against search: "
                                    + "; ".join(changes) + "."))
    for note in state.get("notes") or []:
        blocks.append(Caution(note["text"]))
    return blocks


def _mean_std(stat: dict[str, Any]) -> str:
    mean, std = stat.get("mean"), stat.get("std")
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


# -- the exports -------------------------------------------------------------------------------


def export_winner(store: RunStore, run_id: str, method: str, dest: Path,
                  merged: bool | None) -> Path:
    """Export one run into ``dest`` through the train layer's exporter (`emotui export`):
    merged into the base model where peft can (``merged`` None or True), as an adapter where it
    cannot or where ``merged`` is False. Written beside ``dest`` and renamed into place, so
    ``dest`` is complete or absent whenever the study stops."""
    # lazy: the exporter is optional (the study skips its export phase without it)
    from emotui.train.export import export_run

    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(".*"):  # left by a killed study (ours and the exporter's)
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    adapter = merged is False and methods.get(method).peft_method is not None
    staging = dest.parent / f".{dest.name}.{os.getpid()}.partial"
    try:
        export_run(store.paths(run_id), staging, False if adapter else None)
        os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
