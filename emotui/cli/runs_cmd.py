"""Commands over existing runs: ls, show, logs, predict, rm."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from emotui.cli.render import (
    config_lines,
    position_line,
    print_runs,
    results_table,
    run_header,
    show_for_scripts,
    with_live_times,
)
from emotui.cli.tables import for_scripts
from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.lifecycle import FINISHED, STATE_NAMES, state_of
from emotui.core.methods import applies
from emotui.core.results import summarize
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.runview import UNREADABLE, read_run
from emotui.core.status import read_status
from emotui.launch.base import stderr_tail
from emotui.launch.monitor import refresh_runs, with_live_state
from emotui.launch.runs import check_deletable, delete as delete_run


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ls = sub.add_parser("ls", parents=[common], help="list runs with their state and metrics")
    ls.add_argument("--json", action="store_true", help="a JSON list of run summaries")
    ls.add_argument("--state", action="append", metavar="STATE",
                    choices=(*STATE_NAMES, UNREADABLE),
                    help=f"only runs in this state: {', '.join(STATE_NAMES)}, or {UNREADABLE} "
                    "(files that cannot be read) (repeatable)")
    ls.set_defaults(handler=handle_ls)

    show = sub.add_parser("show", parents=[common], help="one run: state, config and results")
    show.add_argument("run", metavar="RUN", help="run id (or a unique prefix or suffix)")
    show.add_argument("--json", action="store_true",
                      help="{run_id, status, reason, ..., config, results} as JSON")
    show.set_defaults(handler=handle_show)

    logs = sub.add_parser("logs", parents=[common], help="print a run's log (-f to follow)")
    logs.add_argument("run", metavar="RUN")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until it ends")
    logs.add_argument("--stderr", action="store_true", help="stderr.log instead of stdout.log")
    logs.set_defaults(handler=handle_logs)

    predict = sub.add_parser(
        "predict", parents=[common], help="label texts with a run's best checkpoint",
        description="Label texts with a run's best checkpoint. The model loads once for all "
        "the texts: TEXT arguments, a file (--file F), standard input line by line as it comes "
        "(--file -: a pipe gets each answer as soon as its line is in), or, with no TEXT in a "
        "terminal, a prompt that answers each line you type (Ctrl-D ends it).")
    predict.add_argument("run", metavar="RUN")
    predict.add_argument("texts", metavar="TEXT", nargs="*", help="texts to classify")
    predict.add_argument("--file", metavar="F",
                         help="one text per line ('-' for standard input, answered line by line)")
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="label + probabilities of every text as one JSON document")
    output.add_argument("--jsonl", action="store_true",
                        help="one JSON object per text, printed as soon as it is labelled")
    predict.set_defaults(handler=handle_predict)

    rm = sub.add_parser("rm", parents=[common], help="delete finished runs")
    rm.add_argument("runs", metavar="RUN", nargs="+")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask")
    rm.set_defaults(handler=handle_rm)


def refresh_live_states(store: RunStore, runs: list[RunPaths]) -> dict[str, dict]:
    """Ask the launch backends for fresh states (one batched scheduler call per backend):
    {run_id: live status}, for launch.monitor.with_live_state."""
    return refresh_runs(runs)


def _with_live_state(rows: list[dict[str, Any]], live: dict[str, dict]) -> list[dict[str, Any]]:
    return with_live_state(rows, live)


def handle_ls(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    # lazy: keeps `emotui --help` fast (4 ms)
    from emotui.core.runindex import store_rows

    # Finished runs' rows come from the run index unless their files changed; only the runs
    # that may be active are asked of their backends (core.runindex).
    live: dict[str, dict] = {}
    rows = with_live_times(_with_live_state(store_rows(
        store.root, refresh=lambda runs: live.update(refresh_live_states(store, runs))), live),
        time.time())
    if args.state:
        rows = [r for r in rows if r.get("status") in set(args.state)]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        # On stderr: piped, an empty list stays empty.
        if args.state:
            print(f"no {' or '.join(dict.fromkeys(args.state))} runs in {store.root}",
                  file=sys.stderr)
        else:
            print(f"no runs in {store.root}; start one with 'emotui run', 'emotui demo' or "
                  "'emotui'", file=sys.stderr)
        return 0
    from rich.console import Console

    print_runs(Console(), rows)
    return 0


def show_payload(paths: RunPaths) -> dict[str, Any]:
    # The row's hyperparameter columns are every method's (they are `ls`'s columns): one run
    # shows its own method's.
    payload = method_settings_only(summarize(paths))
    view = read_run(paths)  # what of its files has the expected shape (the row says the rest)
    payload["status_detail"] = view.status
    payload["config"] = method_settings_only(view.config)
    payload["results"] = view.results
    payload["run_dir"] = str(paths.root)
    if payload.get("status") == "failed":
        payload["stderr_tail"] = stderr_tail(paths, 20)
    return payload


def method_settings_only(values: Any) -> Any:
    """A run's settings (or row) without other methods' options: config.yaml and the row hold
    every method's (an IA3 run's lora_r, prefix_num_virtual_tokens), none of which it used."""
    if not isinstance(values, dict):
        return values
    method = values.get("method")
    return {key: value for key, value in values.items() if applies(key, method)}


def handle_show(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    paths = store.find(args.run)
    live = refresh_live_states(store, [paths])
    payload = with_live_times(_with_live_state([show_payload(paths)], live), time.time())[0]
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    from rich.console import Console

    console = Console()
    if for_scripts(console):
        sys.stdout.write(show_for_scripts(payload))
        return 0
    console.print(run_header(payload))
    position = position_line(payload)
    if position is not None:
        console.print(position)
    if payload["results"]:
        console.print(results_table(payload["results"]))
    from rich.text import Text

    for line in config_lines(payload["config"], console.width):
        # Text, not markup: values (prompt texts, paths) may hold square brackets.
        text = Text(line, no_wrap=True, overflow="ignore")
        if line.startswith("config: "):
            text.stylize("dim", 0, len("config:"))
        console.print(text, crop=False)
    detail = payload["status_detail"]
    if detail.get("group"):
        members = [p.run_id for p in store if read_status(p).get("group") == detail["group"]]
        console.print(f"[dim]group:[/] {detail['group']} ({len(members)} runs that differ only "
                      f"by seed: {', '.join(members)})", highlight=False)
    if detail.get("wandb_url"):
        console.print(f"[dim]W&B:[/] {detail['wandb_url']}")
    if detail.get("wandb_warning"):
        console.print(f"[yellow]W&B: {detail['wandb_warning']}[/]")
    console.print(f"[dim]run dir:[/] {paths.root}")
    if payload.get("stderr_tail"):
        console.print("[dim]last lines of stderr.log:[/]")
        for line in payload["stderr_tail"]:
            console.print(line, markup=False, highlight=False)
    return 0


def handle_logs(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    paths = store.find(args.run)
    path = paths.stderr if args.stderr else paths.stdout
    offset = 0
    while True:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        except OSError as exc:  # a directory where the log should be, no permission
            raise EmotuiError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})"
                              ) from None
        if chunk:
            sys.stdout.write(chunk.decode("utf-8", errors="replace"))
            sys.stdout.flush()
            offset += len(chunk)
        if not args.follow:
            return 0
        state = state_of(read_status(paths))
        if state in FINISHED:
            refresh_live_states(store, [paths])
            if not chunk:
                return 0
        time.sleep(0.5)


def _checked_lines(lines: Any, source: str) -> Iterator[str]:
    """The non-blank lines of a text source, each without its line end; one-line errors for
    what is not text."""
    try:
        for line in lines:
            if "\0" in line:
                raise ConfigError(f"{source} holds binary data; give a text file with one text "
                                  "per line")
            if line.strip():
                yield line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{source} is not UTF-8 text; give a text file with one text per "
                          "line") from None
    except OSError as exc:  # a folder, a device that fails mid-read
        raise ConfigError(f"{source} cannot be read: {exc.strerror or exc}") from None


def read_texts(args: argparse.Namespace) -> list[str]:
    """TEXT arguments and the lines of --file F (read whole: checked before the model loads);
    standard input (--file -) is streamed instead (text_stream)."""
    texts = list(args.texts)
    if args.file and args.file != "-":
        try:
            source = open(args.file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--file {args.file} cannot be read: {exc.strerror}") from None
        with source:
            texts.extend(_checked_lines(source, f"--file {args.file}"))
    if not texts and not _streams_stdin(args):
        raise ConfigError("no texts to classify; give TEXT arguments, --file F, or --file - "
                          "to read standard input")
    return texts


def _streams_stdin(args: argparse.Namespace) -> bool:
    """--file -, or no text at all in a terminal (the prompt)."""
    return args.file == "-" or (not args.texts and not args.file and sys.stdin.isatty())


def _stdin_lines(prompt: bool) -> Iterator[str]:
    """Standard input line by line as it comes (readline: a pipe's line is answered before
    the next one is written); with ``prompt``, asked for on stderr."""
    def lines() -> Iterator[str]:
        while True:
            if prompt:
                sys.stderr.write("text> ")
                sys.stderr.flush()
            line = sys.stdin.readline()
            if not line:
                return
            yield line

    return _checked_lines(lines(), "standard input")


def handle_predict(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    paths = store.find(args.run)
    texts = read_texts(args)
    prompt = _streams_stdin(args) and args.file != "-"
    # lazy: pulls torch. The function's own module: once imported, emotui.train.predict names
    # that module.
    from emotui.train.predict import Predictor

    if prompt:
        print(f"loading {paths.run_id}...", file=sys.stderr, flush=True)
    predictor = Predictor(paths.root)
    if prompt:
        print("type a text and Enter for its label; Ctrl-D ends", file=sys.stderr, flush=True)
    chunks: Iterator[list[str]] = iter([texts[i:i + PREDICT_CHUNK]
                                        for i in range(0, len(texts), PREDICT_CHUNK)])
    if _streams_stdin(args):
        chunks = itertools.chain(chunks, ([line] for line in _stdin_lines(prompt)))
    labelled: list[dict[str, Any]] = []
    # TEXT arguments: one table at the end; a file or a stream: a line per text as it goes.
    table = not (args.json or args.jsonl or args.file or prompt)
    for chunk in chunks:
        for text, pred in zip(chunk, predictor(chunk)):
            if args.json or table:
                labelled.append({"text": text, **pred})
            elif args.jsonl:
                print(json.dumps({"text": text, **pred}), flush=True)
            else:
                print(_prediction_line(text, pred), flush=True)
    if args.json:
        print(json.dumps(labelled, indent=2))
    elif table:
        _print_predictions(labelled)
    return 0


# A file is labelled this many lines at a time, each batch printed as soon as it is done.
PREDICT_CHUNK = 256


def _prediction_line(text: str, pred: dict[str, Any]) -> str:
    """One streamed answer: label, its probability, the text."""
    return f"{pred['label']}\t{pred['probabilities'][pred['label']]:.3f}\t{text}"


def _print_predictions(labelled: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("label")
    table.add_column("p", justify="right")
    table.add_column("text", overflow="fold")
    for row in labelled:
        table.add_row(row["label"], f"{row['probabilities'][row['label']]:.3f}", row["text"])
    Console().print(table)


def handle_rm(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    targets = [store.find(ref) for ref in args.runs]
    refresh_live_states(store, targets)
    for paths in targets:  # every run checked before any is deleted
        check_deletable(paths)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("rm needs --yes when not run interactively")
        names = ", ".join(p.run_id for p in targets)
        if input(f"delete {names}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    for paths in targets:
        delete_run(store, paths)
        print(f"deleted {paths.run_id}")
    return 0
