"""Where a run's W&B settings come from, and how they travel to the job.

Precedence, lowest first: the user config's ``wandb:`` section < WANDB_* environment variables <
the run's own choices (``emotui run --wandb-project ...`` or a ``--config`` file's ``wandb:``
section). The run's choices are stored in status.json (``wandb_settings``) when the run is created,
so a detached or Slurm job on another machine logs where the user asked without any environment.

The API key is not a setting: W&B reads it from WANDB_API_KEY or ~/.netrc itself. A key found in
a config section is refused, so it never lands in a file emotui writes.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

from emotui.core.errors import ConfigError
from emotui.core.settings import Schema, layer_settings, setting
from emotui.core.userconfig import user_layer

DEFAULT_PROJECT = "emotui"
STATUS_KEY = "wandb_settings"
MODES = ("online", "offline", "disabled")
SECRET_KEYS = frozenset({"api_key", "key", "apikey", "token", "password"})
# Keys of the user config's wandb: section that are emotui's own, not wandb.init settings
# (tui_project: the W&B project the TUI shows beside the local runs; see emotui.tui.app).
EMOTUI_KEYS = frozenset({"tui_project"})
# The environment variables wandb itself honours for the same settings.
ENV_VARS = {
    "entity": "WANDB_ENTITY",
    "project": "WANDB_PROJECT",
    "group": "WANDB_RUN_GROUP",
    "tags": "WANDB_TAGS",
    "name": "WANDB_NAME",
    "notes": "WANDB_NOTES",
    "job_type": "WANDB_JOB_TYPE",
    "mode": "WANDB_MODE",
}
# wandb's older spellings of the modes.
_MODE_ALIASES = {"dryrun": "offline", "run": "online", "shared": "online", "true": "online",
                 "false": "disabled", "off": "disabled"}


def normalize_mode(value: Any, source: str) -> str:
    """A mode as wandb spells it, old spellings included (the choice check follows)."""
    text = str(value).strip().lower()
    return _MODE_ALIASES.get(text, text)


@dataclass
class WandbSettings:
    """Everything wandb.init needs from emotui besides the config (never the key)."""

    project: str = setting(DEFAULT_PROJECT, "W&B project", metavar="NAME")
    entity: str | None = setting(None, "W&B user or team", metavar="NAME",
                                 default_help="your default entity")
    group: str | None = setting(None, "W&B run group (sweep trials: the sweep id)", metavar="NAME")
    tags: list[str] = setting([], "comma-separated W&B tags (the method is always added)",
                              metavar="A,B")
    name: str | None = setting(None, "W&B run name", flag=False)
    notes: str | None = setting(None, "W&B run notes", flag=False)
    job_type: str | None = setting(None, "W&B job type", flag=False)
    mode: str = setting("online", "online, offline (upload later with 'emotui sync') or disabled",
                        choices=MODES, parse=normalize_mode, default_help="$WANDB_MODE or online")


def _refuse_secrets(key: str, raw_key: str, source: str) -> None:
    if key.lower() in SECRET_KEYS:
        raise ConfigError(
            f"'wandb: {raw_key}' in {source}: emotui does not take the W&B API key from files; "
            "remove it and set WANDB_API_KEY or run 'wandb login'"
        )


WANDB_SETTINGS = Schema.of(
    WandbSettings, "W&B", prefix="wandb ", others=EMOTUI_KEYS, skip_empty=True, fold_case=True,
    flag_prefix="wandb", dest_prefix="wandb_", underscore_flags="second", refuse=_refuse_secrets,
)


def clean_section(section: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """A ``wandb:`` mapping checked: known keys only, no secrets, tags as a list."""
    if not section:
        return {}
    return layer_settings(WANDB_SETTINGS, [(where, section)]).values


def _env_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {key: env[var] for key, var in ENV_VARS.items() if env.get(var)}
    if env.get("WANDB_DISABLED", "").lower() in ("true", "1", "yes"):
        raw["mode"] = "disabled"  # the transformers-era switch some users still set
    return raw


def resolve(run_choices: Mapping[str, Any] | None = None, *, user: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> WandbSettings:
    """The effective settings: user config < environment < the run's own choices."""
    user_config = user_layer("wandb") if user is None else ("user config", user)
    return layer_settings(WANDB_SETTINGS, [
        user_config, ("the environment", _env_layer(environ)),
        ("the run's settings", run_choices or {}),
    ]).build()


def run_choices_from(flags: Mapping[str, Any] | None,
                     sections: Mapping[str, Any] | None = None, *,
                     config_file: str | None = None) -> dict[str, Any]:
    """The run's own W&B choices: the ``--config`` file's ``wandb:`` section (``sections``)
    overridden by ``flags``, the W&B settings given on the command line ({project: ...})."""
    return layer_settings(WANDB_SETTINGS, [
        (f"{config_file or '--config'} (wandb:)", (sections or {}).get("wandb")),
        ("command line", dict(flags or {})),
    ]).values


def status_fields(choices: Mapping[str, Any]) -> dict[str, Any]:
    """What the launcher adds to a new run's status.json (nothing when there are no choices)."""
    return {STATUS_KEY: dict(choices)} if choices else {}


# ---------------------------------------------------------------------------------------------
# Credentials and reachability (checked before anything can block)
# ---------------------------------------------------------------------------------------------


def base_url() -> str:
    """The W&B server emotui would talk to ($WANDB_BASE_URL or wandb's default)."""
    explicit = os.environ.get("WANDB_BASE_URL")
    if explicit:
        return explicit.rstrip("/")
    try:
        from wandb.sdk.wandb_settings import Settings

        return str(Settings().base_url).rstrip("/")
    except Exception:  # noqa: BLE001 - any failure here only means "use the public default"
        return "https://api.wandb.ai"


def has_credentials(url: str | None = None) -> bool:
    """Whether wandb will find an API key (WANDB_API_KEY, an identity token, or ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(url or base_url()).hostname or ""
    try:
        import netrc

        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, OSError, netrc.NetrcParseError):
        return False


def reachable(url: str | None = None, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the server opens within timeout, else why not (one phrase).

    wandb itself retries an unreachable server until its own timeouts expire (90 s for init,
    forever for sync); this check turns "no network" into an answer in at most ``timeout`` s.
    """
    parsed = urlparse(url or base_url())
    host = parsed.hostname
    if not host:
        return f"bad W&B base URL {url!r}"
    proxy = _proxy_for(parsed.scheme, host)
    if proxy is not None:
        # Behind a proxy (HTTPS_PROXY...) the server itself may be unreachable directly.
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host = parsed.hostname or host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"cannot resolve {host}"
    except socket.timeout:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.strerror or exc})"


def _proxy_for(scheme: str, host: str) -> str | None:
    from urllib.request import getproxies, proxy_bypass

    proxies = getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or proxy_bypass(host):
        return None
    return proxy


def explain_failure(exc: BaseException, url: str, timeout: float) -> str:
    """A wandb exception as one line a user can act on."""
    text = " ".join(str(exc).split())
    low = text.lower()
    # A status code as a number of its own: the message also names the URL, whose port may
    # hold the same digits (http://127.0.0.1:42939 is not a 429).
    codes = set(re.findall(r"(?<!\d)(\d{3})(?!\d)", low.replace(url.lower(), " ")))
    if "429" in codes or "rate limit" in low or "too many requests" in low:
        return f"W&B is rate limiting requests at {url}; try again in a minute"
    # wandb-core retries 429s and 5xx until the timeout, then reports itself "busy".
    if any(s in low for s in ("did not respond in time", "timed out", "timeout", "deadline")):
        return (f"W&B at {url} did not answer within {timeout:g} s "
                "(rate limited, overloaded or a slow network); try again later")
    if codes & {"401", "403"} or any(s in low for s in (
            "not logged in", "invalid credentials", "unauthorized", "api key",
            "permission denied")):
        return f"W&B rejected the API key at {url} (check WANDB_API_KEY or run 'wandb login')"
    return f"W&B request failed at {url}: {text[:200] or type(exc).__name__}"
