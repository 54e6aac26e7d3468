"""`emotui cancel RUN...`: stop queued or running runs on any backend (scancel, or the local
process group). A running job first saves a checkpoint, so `emotui run --resume RUN` can continue
it. It acts on what lives, not on what status.json says (launch.runs.cancel): a run recorded as
ended whose process still runs is stopped too; one with nothing alive says so and changes
nothing (exit 0)."""

from __future__ import annotations

import argparse
import json

from emotui.core.runstore import RunStore
from emotui.core.status import read_status
from emotui.launch.runs import cancel


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "cancel", parents=[common], help="stop queued or running runs",
        description=__doc__,
    )
    parser.add_argument("runs", metavar="RUN", nargs="+",
                        help="run id, or a unique prefix or suffix of one")
    parser.add_argument("--json", action="store_true",
                        help="print [{run_id, result, status}] as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    targets = []
    for ref in args.runs:  # every id checked before anything is cancelled
        paths = store.find(ref)
        if paths.run_id not in {p.run_id for p in targets}:
            targets.append(paths)
    notes = cancel(targets)
    by_id = {p.run_id: p for p in targets}
    if args.json:
        print(json.dumps([{"run_id": rid, "result": note,
                           "status": read_status(by_id[rid]).get("state")}
                          for rid, note in notes]))
    else:
        for rid, note in notes:
            print(f"{rid}: {note}")
    return 0
