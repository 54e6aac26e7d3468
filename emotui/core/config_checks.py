"""What a RunConfig is refused for before a run exists: rules that span settings (a method's
setting given for another method, bf16 with fp16, ...) and local paths that are missing or
unreadable. Each is one line naming the setting and the layer it came from; the values of one
setting alone are checked as they are read (``emotui.core.setting_values``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from emotui.core import methods
from emotui.core.errors import ConfigError
from emotui.core.settings import spec_of

if TYPE_CHECKING:
    from emotui.core.config import RunConfig

# Settings that take a Hub id or a local folder.
HUB_OR_PATH_FIELDS = ("model_name_or_path", "config_name", "tokenizer_name")
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def validate_combinations(config: RunConfig, explicit: set[str], sources: Mapping[str, str]) -> None:
    """Rules that span fields. Explicitly set method options must belong to the chosen method."""
    _check_method_settings(config, explicit, sources)
    if "prompt_tuning_init_text" in explicit and config.prompt_tuning_init_text is not None \
            and not config.prompt_tuning_init_text.strip():
        raise ConfigError(
            "prompt_tuning_init_text is empty; give a text such as "
            f"'{methods.DEFAULT_PROMPT_INIT_TEXT}' or leave it unset for random init"
        )
    if config.do_regression:
        raise ConfigError("do_regression is not supported: emotui trains classifiers; drop it")
    if config.bf16 and config.fp16:
        raise ConfigError("bf16 and fp16 are both set; choose one")
    for name in methods.owned_fields():  # lora_target_modules, ia3_..., vera_...
        value = getattr(config, name)
        if name.endswith("target_modules") and methods.applies(name, config.method) \
                and value is not None and not any(m.strip() for m in value.split(",")):
            raise ConfigError(f"{name} is empty; give module names such as query,value")
    # peft refuses it only once the model is built, after the run exists.
    if methods.applies("init_lora_weights", config.method) \
            and config.init_lora_weights == "orthogonal" and config.lora_r % 2:
        raise ConfigError(f"init_lora_weights orthogonal needs an even lora_r, got "
                          f"{config.lora_r}; give --lora_r {config.lora_r + 1} or another init")
    if not config.text_columns():
        raise ConfigError("text_column_names is empty; give the text column, e.g. text")
    if config.eval_strategy == "steps" and not config.eval_steps:
        raise ConfigError("eval_strategy steps needs --eval_steps N")
    if config.save_strategy == "steps" and not config.save_steps:
        raise ConfigError("save_strategy steps needs --save_steps N")
    if config.load_best_model_at_end and config.do_eval and config.eval_strategy == "no" \
            and "load_best_model_at_end" in explicit:
        raise ConfigError("load_best_model_at_end needs evaluation; set --eval_strategy epoch")
    if not (config.do_train or config.do_eval or config.do_predict):
        raise ConfigError("do_train, do_eval and do_predict are all false: nothing to do")
    _check_local_model_paths(config, sources)
    for name in ("train_file", "validation_file", "test_file"):
        path = getattr(config, name)
        if path is not None:
            _check_readable(Path(path).expanduser(), name, want_dir=False)
    if config.data_dir is not None:
        _check_readable(Path(config.data_dir).expanduser(), "data_dir", want_dir=True)
    if (config.validation_file or config.test_file) and not (config.train_file or config.data_dir) \
            and config.do_train:
        raise ConfigError("validation_file/test_file given without --train_file; add it")


def _check_method_settings(config: RunConfig, explicit: set[str],
                           sources: Mapping[str, str]) -> None:
    """A method's own setting, given with another value than its default, for another method."""
    method = config.method
    defaults = _defaults(config)
    for name in explicit:
        allowed = methods.owners(name)
        if getattr(config, name) == defaults[name]:
            continue  # a saved config.yaml spells out every default; only real choices count
        if allowed and method not in allowed:
            owners = [methods.get(m) for m in allowed]
            if name == methods.INIT_TEXT_FIELD \
                    and config.peft_method in {o.peft_method for o in owners}:
                continue  # an empty init text is caught below
            needs = " or ".join(dict.fromkeys(o.selector for o in owners))
            raise ConfigError(
                f"{name} (from {sources.get(name, 'config')}) applies to {', '.join(allowed)} "
                f"but this run is {method}; add {needs} or drop {name}"
            )


def _defaults(config: RunConfig) -> dict[str, Any]:
    """{field: its declared default}."""
    return {f.name: spec_of(f).default for f in dataclasses.fields(config)}


def looks_like_missing_local_path(value: str) -> bool:
    """A value meant as a local folder (./x, ../x, /x, ~/x, a/b/c) that does not exist; a Hub id
    (roberta-base, FacebookAI/roberta-base) is left to the Hub."""
    if Path(value).expanduser().exists():
        return False
    if value.startswith(("./", "../", "/", "~")) or value in (".", ".."):
        return True
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if not any(sep in value for sep in separators):
        return False
    return not (HUB_ID.fullmatch(value) and ".." not in value and "--" not in value)


def _check_local_model_paths(config: RunConfig, sources: Mapping[str, str]) -> None:
    # Refused here, before a run exists: the Hub would otherwise fail it seconds later.
    for name in HUB_OR_PATH_FIELDS:
        value = getattr(config, name)
        if value and looks_like_missing_local_path(str(value)):
            raise ConfigError(
                f"{name} (from {sources.get(name, 'config')}): folder {value} does not exist; "
                "check the path, or give a Hub id such as roberta-base"
            )


def _check_readable(path: Path, name: str, *, want_dir: bool) -> None:
    if not path.exists():
        raise ConfigError(f"{name}: {path} does not exist; check the path")
    if want_dir != path.is_dir():
        kind = "a folder" if want_dir else "a file"
        raise ConfigError(f"{name}: {path} is not {kind}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{name}: {path} is not readable; check its permissions")
