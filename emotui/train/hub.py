"""Fail fast when the Hugging Face Hub is out of reach.

huggingface_hub retries an unreachable host with back-off for about 40 s, printing each retry,
before transformers or datasets give up. One short TCP probe tells us the same in seconds; when
it fails we switch this process to offline mode, so the loaders fail at once and the train layer
turns that into its one-line "use local files" message.

Before a run exists on this machine (``launch.runs.check_start``), ``unloadable_here`` says the
same in one line when the Hub is out of reach and a name the run loads from it has nothing in
the local Hugging Face cache: refused at once, not a run id and a failure a dozen seconds later
(the imports of torch and transformers come first).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from emotui.core.config import RunConfig

log = logging.getLogger("emotui.train")
PROBE_TIMEOUT_S = 5.0
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def needs_hub(config: RunConfig) -> bool:
    """Whether loading this run's model or data would ask the Hub for anything."""
    return bool(hub_names(config))


def hub_unreachable(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the Hub endpoint accepts a TCP connection, else why not (DNS, refused, timeout)."""
    url = urlparse(endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return None  # behind a proxy a direct probe proves nothing; let the client try
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def go_offline_if_unreachable(config: RunConfig) -> None:
    """Probe the Hub once when this run needs it and offline mode is not already set."""
    if not needs_hub(config) or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true"):
        return
    problem = hub_unreachable()
    if problem is None:
        return
    log.warning("the Hugging Face Hub is unreachable (%s); loading offline", problem)
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"
    # Already-imported libraries read these once at import: tell them too.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        datasets_config.HF_DATASETS_OFFLINE = True


def hub_names(config: RunConfig) -> list[tuple[str, str]]:
    """(what, name) of each thing this run loads from the Hub: the model, tokenizer and config
    names that are not local folders (what, the flag that names it), the dataset when no local
    files are given."""
    flags = (("--model_name_or_path", config.model_name_or_path),
             ("--tokenizer_name", config.tokenizer_name), ("--config_name", config.config_name))
    found = [(flag, name) for flag, name in flags
             if name and not Path(name).expanduser().exists()]
    local_data = config.train_file or config.validation_file or config.test_file or config.data_dir
    if config.dataset_name and not local_data:
        found.append(("dataset", config.dataset_name))
    return found


def in_local_cache(what: str, name: str, config: RunConfig) -> bool:
    """Whether the local Hugging Face cache holds anything of ``name`` (offline loading reads
    it); leaning to yes: only a name of which nothing at all is cached is a no."""
    from huggingface_hub import constants  # lazy: 40 ms, only for a run that needs the Hub

    own = Path(config.cache_dir).expanduser() if config.cache_dir else None
    hub = own or Path(constants.HF_HUB_CACHE)
    repo = name.replace("/", "--")
    if what != "dataset":
        return (hub / f"models--{repo}").exists()
    datasets_cache = own or Path(os.environ.get("HF_DATASETS_CACHE")
                                 or Path(constants.HF_HOME) / "datasets")
    return (hub / f"datasets--{repo}").exists() \
        or (datasets_cache / name.replace("/", "___")).exists()


def unloadable_here(config: RunConfig) -> str | None:
    """One line when this run needs the Hub, the Hub is out of reach from this machine (offline
    mode, or no connection) and a name the run loads from it is not in the local cache; None
    when it may load."""
    names = hub_names(config)
    if not names:
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true"):
        problem: str | None = "HF_HUB_OFFLINE is set"
    else:
        problem = hub_unreachable()
    if problem is None:
        return None
    for what, name in names:
        if in_local_cache(what, name, config):
            continue
        if what == "dataset":
            from emotui.train.data import LOCAL_HINT  # lazy: pulls the data readers

            return (f"cannot reach the Hugging Face Hub ({problem}) to load dataset '{name}', "
                    f"and it is not in the local cache; {LOCAL_HINT}")
        return (f"cannot reach the Hugging Face Hub ({problem}) to load '{name}' "
                f"({what}), and it is not in the local cache; pass a local folder to {what}")
    return None
