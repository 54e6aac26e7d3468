"""A local stand-in for the W&B endpoints emotui calls, on 127.0.0.1.

It speaks just enough GraphQL for ``wandb.Api(timeout=...).runs(...)`` (wandb 0.31, whose
wandb-core sidecar sends the HTTP requests): the ``Viewer`` and ``GetDefaultEntity`` queries at
login, and the paginated ``Runs`` query. It swallows wandb-core's telemetry posts. Modes let a test
reject the key (401), rate limit (429) or never answer. The live W&B service is not exercised.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def study_run(run_id: str, *, lr: float, peft: str | None, eval_acc: float, test_acc: float,
              lora_r: int | None = None, init_text: str | None = None, state: str = "finished",
              sweep: str | None = None, extra_config: dict | None = None,
              extra_summary: dict | None = None) -> dict[str, Any]:
    """A run as the study's train.py (HF Trainer + WandbCallback) left it on W&B."""
    config = {"learning_rate": lr, "seed": 23, "per_device_train_batch_size": 64,
              "num_train_epochs": 5, "model_name_or_path": "roberta-base",
              "_name_or_path": "roberta-base", "model/num_parameters": 124650246}
    if peft:
        config["peft_method"] = peft
    if lora_r is not None:
        config["lora_r"] = lora_r
    if init_text is not None:
        config["prompt_tuning_init_text"] = init_text
    config.update(extra_config or {})
    summary = {"eval/accuracy": eval_acc, "eval/loss": 0.3, "test/accuracy": test_acc,
               "test/loss": 0.31, "train/epoch": 5, "train/global_step": 1250,
               "train_runtime": 207.5, "train_samples_per_second": 385.4,
               "_step": 1260, "_runtime": 210.1,
               "test/confusion_matrix_table": {"_type": "table-file", "nrows": 36}}
    summary.update(extra_summary or {})
    history = []
    for epoch in range(1, 6):  # HF Trainer's WandbCallback rows: train logs, then an eval
        step = epoch * 250
        history.append({"train/loss": round(1.5 / epoch, 4), "train/learning_rate": lr,
                        "train/epoch": epoch, "train/global_step": step, "_step": 2 * epoch})
        history.append({"eval/accuracy": round(eval_acc - 0.01 * (5 - epoch), 4),
                        "eval/loss": 0.3, "train/epoch": epoch, "train/global_step": step,
                        "_step": 2 * epoch + 1})
    return {"name": run_id, "history": history, "displayName": f"run-{run_id}", "state": state,
            "config": {k: {"value": v, "desc": None} for k, v in config.items()},
            "summaryMetrics": summary, "sweepName": sweep, "group": sweep, "tags": []}


class StandIn:
    """``with StandIn(runs) as server: os.environ['WANDB_BASE_URL'] = server.url``."""

    def __init__(self, runs: dict[str, list[dict[str, Any]]] | None = None, *,
                 api_key: str | None = None, entity: str = "study-team"):
        # {"entity/project": [run dicts as built by study_run]}
        self.runs = runs or {}
        self.api_key = api_key
        self.entity = entity
        self.mode = "ok"  # ok | unauthorized | rate_limited | hang
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "StandIn":
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self.mode = "ok"
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def runs_queries(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "query Runs(" in r.get("query", "")]

    # -- GraphQL --------------------------------------------------------------------------------

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query", "")
        variables = body.get("variables") or {}
        if "viewer" in query:
            return {"data": {"viewer": {"id": "VXNlcjox", "entity": self.entity,
                                        "username": "tester", "email": None, "flags": "{}",
                                        "teams": {"edges": []}}}}
        if "RunSampledHistory" in query:
            run = self._find(variables)
            if run is None:
                return {"data": {"project": {"run": None}}}
            out = []
            for spec_text in variables.get("specs") or []:
                keys = json.loads(spec_text)["keys"]
                out.append([{k: row[k] for k in keys if k in row}
                            for row in run.get("history", []) if all(k in row for k in keys)])
            return {"data": {"project": {"run": {"sampledHistory": out}}}}
        if "query Run(" in query:
            run = self._find(variables)
            return {"data": {"project": {"run": None if run is None else self._node(run)}}}
        if "query Runs(" in query:
            key = f"{variables.get('entity')}/{variables.get('project')}"
            if key not in self.runs:
                return {"data": {"project": None}}
            runs = self.runs[key]
            start = int(variables.get("cursor") or 0)
            per_page = int(variables.get("perPage") or 50)
            page = runs[start:start + per_page]
            edges = []
            for i, run in enumerate(page):
                edges.append({"node": self._node(run), "cursor": str(start + i + 1)})
            end = start + len(page)
            return {"data": {"project": {
                "internalId": "UHJvamVjdDox", "runCount": len(runs), "readOnly": False,
                "runs": {"edges": edges,
                         "pageInfo": {"endCursor": str(end), "hasNextPage": end < len(runs)}},
            }}}
        return {"data": {}}

    def _find(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        runs = self.runs.get(f"{variables.get('entity')}/{variables.get('project')}") or []
        return next((r for r in runs if r["name"] == variables.get("name")), None)

    @staticmethod
    def _node(run: dict[str, Any]) -> dict[str, Any]:
        """A run as the GraphQL Run type (RunFragment's fields)."""
        node = {"projectId": 1, "id": f"id-{run['name']}", "jobType": None, "commit": None,
                "readOnly": False, "createdAt": "2025-05-01T10:00:00",
                "heartbeatAt": "2025-05-01T10:05:00", "description": None, "notes": None,
                "systemMetrics": "{}", "historyLineCount": len(run.get("history", [])),
                "user": {"name": "tester", "username": "tester"}, "historyKeys": None}
        node.update({k: v for k, v in run.items()
                     if k not in ("config", "summaryMetrics", "history")})
        node["config"] = json.dumps(run.get("config") or {})
        node["summaryMetrics"] = json.dumps(run.get("summaryMetrics") or {})
        return node


def _handler_for(standin: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, code: int, payload: dict[str, Any] | None = None) -> None:
            data = json.dumps(payload or {}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if code == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a test's short timeout): nothing to answer

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.startswith("/graphql"):
                self._send(200)  # wandb-core telemetry (/sdk/otel/...)
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
            standin.requests.append(body)
            auth = self.headers.get("Authorization", "")
            standin.auth_headers.append(auth)
            if standin.mode == "hang":
                time.sleep(60)
                return
            if standin.mode == "rate_limited":
                self._send(429, {"errors": [{"message": "rate limit exceeded"}]})
                return
            if standin.mode == "unauthorized" or not _key_ok(auth, standin.api_key):
                self._send(401, {"errors": [{"message": "user is not logged in"}]})
                return
            self._send(200, standin.answer(body))

        def do_GET(self) -> None:  # noqa: N802
            self._send(404)

    return Handler


def _key_ok(header: str, expected: str | None) -> bool:
    if expected is None:
        return True
    if not header.startswith("Basic "):
        return False
    try:
        user_pass = base64.b64decode(header[6:]).decode()
    except ValueError:
        return False
    return user_pass.split(":", 1)[-1] == expected
