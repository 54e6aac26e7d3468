"""`emotui sync`: upload the W&B data that runs recorded offline (``wandb sync``)."""

from __future__ import annotations

import argparse
import sys

from emotui.core.runstore import RunStore

DESCRIPTION = """\
Upload emotui runs' offline W&B data (runs/<id>/wandb/offline-run-*) with 'wandb sync'.
Without RUN: every finished run with data not yet uploaded. The API key comes from
WANDB_API_KEY or 'wandb login'; it never appears on a command line emotui runs.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sync", parents=[common], help="upload runs' offline W&B data",
                            description=DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", metavar="RUN", nargs="*", help="run ids (default: all pending)")
    parser.add_argument("--dry-run", "-n", action="store_true",
                        help="list what would be uploaded, upload nothing")
    parser.add_argument("--timeout", type=float, default=600, metavar="S",
                        help="give up on one run's upload after S seconds (default: 600)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (4 ms)
    from emotui.tracking.sync import is_active, pending_uploads, sync_run

    store = RunStore(args.runs_dir)
    explicit = bool(args.runs)
    targets = [store.find(ref) for ref in args.runs] if explicit else list(store)
    for paths in targets:
        if explicit and is_active(paths):
            print(f"{paths.run_id}: still running; sync it once it has ended", file=sys.stderr)
    plan = pending_uploads(targets, include_synced=explicit)
    if not plan:
        print("nothing to upload: no offline W&B data waiting"
              + ("" if explicit else " in finished runs"))
        return 0
    if args.dry_run:
        for paths, dirs in plan:
            for d in dirs:
                print(f"{paths.run_id}: {d}")
        return 0
    failures = 0
    for paths, dirs in plan:
        outcome = sync_run(paths, dirs, timeout=args.timeout)
        if outcome.ok:
            where = f" -> {outcome.url}" if outcome.url else ""
            print(f"{paths.run_id}: uploaded{where}")
        else:
            failures += 1
            print(f"emotui: {paths.run_id}: not uploaded: {outcome.message}", file=sys.stderr)
            if outcome.fatal:  # no key / no network: the other runs would fail the same way
                break
    return 1 if failures else 0
