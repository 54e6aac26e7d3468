"""What a run's config can be checked against before the run exists: a local model folder and
local data files. Every check here is one training would fail later (mid-run, or worse, by
"completing" a run that learned nothing), so `emotui run` refuses it in one line before it
prints a run id and leaves nothing behind.

Light on purpose: JSON, CSV and parquet readers only (emotui.train.data), never torch or
transformers, so the CLI calls it without loading them. A Hub model or dataset is left to
training (reaching the Hub is training's job), but for one case launch.runs.check_start refuses
at once on this machine: a Hub out of reach and a name the local cache lacks (train/hub.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emotui.core import methods
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.train.data import load_splits, local_files

# Files any one of which holds a tokenizer's vocabulary (fast, BPE, WordPiece, SentencePiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
# Model types whose position ids start after the padding index (RoBERTa's family): their
# usable length is max_position_embeddings - (pad_token_id + 1), 512 for roberta-base's 514.
PADDING_OFFSET_TYPES = frozenset({
    "roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
    "roberta-prelayernorm", "ibert", "xmod", "mpnet", "luke", "markuplm",
})


def check_before_run(config: RunConfig) -> None:
    """Raise a one-line ConfigError/DataError for what training would fail on later."""
    check_model(config)
    check_data(config)


# -- the model ---------------------------------------------------------------------------------


def _local_folder(value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def check_model(config: RunConfig) -> None:
    model = _local_folder(config.model_name_or_path)
    config_folder = _local_folder(config.config_name) or (model if not config.config_name
                                                           else None)
    if model is not None:
        if not any((model / name).is_file() for name in WEIGHT_FILES) \
                and not list(model.glob("*.safetensors")):
            raise ConfigError(
                f"model folder {model} has no weights ({', '.join(WEIGHT_FILES[:2])}); give "
                "the folder a model was saved to (save_pretrained) or a Hub id")
        tokenizer = _local_folder(config.tokenizer_name) or (model if not config.tokenizer_name
                                                             else None)
        if tokenizer is not None and not any((tokenizer / n).is_file() for n in TOKENIZER_FILES):
            flag = "--tokenizer_name" if config.tokenizer_name else "--tokenizer_name NAME"
            raise ConfigError(
                f"{'tokenizer' if config.tokenizer_name else 'model'} folder {tokenizer} has no "
                f"tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); save the tokenizer "
                f"there too, or give {flag} (a Hub id or a folder that has them)")
    if config_folder is not None:
        _check_positions(config, config_folder)


def model_config(folder: Path) -> dict[str, Any]:
    """A local model's config.json as a mapping (a one-line ConfigError if it has none)."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"model folder {folder} has no config.json; give the folder a model "
                          "was saved to (save_pretrained) or a Hub id") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a model config (a JSON object)")
    return data


def max_tokens(model: dict[str, Any]) -> int | None:
    """The longest input (in tokens) the model's position embeddings take; None if unknown."""
    positions = model.get("max_position_embeddings")
    if isinstance(positions, bool) or not isinstance(positions, int) or positions <= 0:
        return None
    if model.get("model_type") in PADDING_OFFSET_TYPES:
        pad = model.get("pad_token_id")
        positions -= (pad if isinstance(pad, int) and not isinstance(pad, bool) else 1) + 1
    return positions


def virtual_tokens(config: RunConfig) -> tuple[str, int] | None:
    """(setting, count) of the positions the method's virtual tokens take before the text
    (prompt tuning, prefix tuning, P-tuning: the text's position ids start after them); None
    where the method has none or only a tokenizer knows how many (a text-init prompt without a
    set length: its builder checks)."""
    spec = methods.find(config.method)
    for name in spec.owns if spec is not None else ():
        value = getattr(config, name, None)
        if name.endswith("num_virtual_tokens") and isinstance(value, int) \
                and not isinstance(value, bool):
            return name, value
    return None


def _check_positions(config: RunConfig, folder: Path) -> None:
    limit = max_tokens(model_config(folder))
    if limit is None:
        return
    if config.max_seq_length > limit:
        raise ConfigError(
            f"max_seq_length {config.max_seq_length} is more than model {folder} takes "
            f"({limit} tokens, from its max_position_embeddings); give --max_seq_length "
            f"{limit} or less")
    name, virtual = virtual_tokens(config) or ("", 0)
    if virtual and virtual + config.max_seq_length > limit:
        raise ConfigError(
            f"{virtual} virtual tokens ({name}) + max_seq_length {config.max_seq_length} are "
            f"more than model {folder} takes ({limit} positions, from its "
            f"max_position_embeddings); lower --max_seq_length to {limit - virtual} or "
            f"--{name} to {limit - config.max_seq_length}")


# -- the data ----------------------------------------------------------------------------------


def check_data(config: RunConfig) -> None:
    """Local data files read as training reads them (emotui.train.data: the same checks, the
    same messages); a Hub dataset is left to training."""
    if local_files(config):
        load_splits(config)
