"""`emotui report`: the study's report from finished runs, written by emotui itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotui.cli.compare_cmd import add_run_sources
from emotui.core.runstore import RunStore
from emotui.core.trackers import TRACKERS
from emotui.report.output import FORMATS, check_request, default_out, write_report

DESCRIPTION = """\
Write a report comparing the methods: per method the best configuration picked on VALIDATION
accuracy (never on test), its test accuracy and macro-F1 as mean ± std over seeds (runs that
differ only by seed form one configuration), a cost table (trainable parameters, checkpoint
size, training time, GPU-hours, samples/s, peak memory), figures (accuracy against trainable
parameters and against training time with the Pareto front, validation curves, confusion
matrices) and each sweep's trials sorted by its metric, collapsed trials marked.

RUN is a run id (or a unique part), a sweep id, or a folder of W&B offline runs; without RUN:
every run and sweep in the store. --wandb adds a W&B project's runs, --trackio a trackio
project's, as in `emotui compare`.
"""
EPILOG = """\
examples:
  emotui report --pdf                          # report.pdf from every finished run
  emotui report my-sweep --format markdown --out docs/results.md
  emotui report --wandb my-team/emotion --format html --out study.html
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report", parents=[common], help="write the methods' report (Typst/PDF, Markdown, HTML)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_sources(parser, "RUN|SWEEP", "run ids, sweep ids, or paths holding W&B offline runs")
    parser.add_argument("--format", default="typst", choices=FORMATS,
                        help="typst (default; with --pdf compiled to PDF), markdown (figures as "
                        "SVG files beside it) or html (one self-contained file)")
    parser.add_argument("--pdf", action="store_true",
                        help="compile the Typst report to PDF")
    parser.add_argument("--out", metavar="PATH", default=None,
                        help="where to write (default: ./report.typ, .pdf, .md or .html); "
                        "figures go into PATH's folder as <name>_figures/")
    parser.add_argument("--title", default="emotui report", help="the report's title")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (34 ms)
    from emotui.report.document import build_report
    from emotui.report.gather import gather

    out = Path(args.out) if args.out else default_out(args.format, args.pdf)
    check_request(args.format, args.pdf, out)  # before the work: a bad request fails fast
    projects = {spec.name: getattr(args, spec.name) for spec in TRACKERS
                if getattr(args, spec.name, None) is not None}
    gathered = gather(RunStore(args.runs_dir), list(args.runs), trackers=projects,
                      refresh=args.refresh)
    report = build_report(gathered, title=args.title)
    for warning in gathered.warnings:
        print(f"emotui: warning: {warning}", file=sys.stderr)
    written = write_report(report, args.format, out, pdf=args.pdf)
    # "best" is keyed by section and method where the runs trained several models or datasets.
    methods = {config.method for config in report.data["best"].values()}
    sections = len(report.data.get("sections") or ())
    print(f"report of {len(report.data['runs'])} runs, {len(methods)} "
          f"method{'' if len(methods) == 1 else 's'}"
          + (f", {sections} sections (one per model and dataset)" if sections > 1 else "")
          + "; best configurations picked on validation: "
          + ", ".join(str(p) for p in written))
    return 0
