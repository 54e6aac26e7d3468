"""Tokenised splits kept on disk, so a sweep tokenises its data once instead of once per trial.

An entry is keyed by what decides the token ids: the tokenizer (its whole serialised pipeline:
vocabulary, merges, normaliser, special tokens; plus the transformers/tokenizers versions), the
maximum length, and the split's texts themselves. Hashing the texts (a few milliseconds for
16,000 tweets) covers everything that selects them — which data files, their edits, text columns,
sample limits, shuffling, Hub datasets — and cannot be fooled by a file rewritten within one
mtime tick or an NFS clock. Labels are not cached; they come from the data every time.

Entries live in ``<user cache>/tokens/<key>.npz`` (ids flat, plus lengths), written atomically
(concurrent trials may write the same entry). ``overwrite_cache`` re-tokenises and rewrites.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from emotui.core.config import RunConfig
from emotui.core.userconfig import user_cache_dir
from emotui.train.batches import Encoded, encode

log = logging.getLogger("emotui")

# Bump when the stored layout or the way ids are produced changes.
FORMAT_VERSION = 1


def token_cache_dir() -> Path:
    return user_cache_dir() / "tokens"


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything in the tokenizer that decides the ids it produces."""
    import tokenizers
    import transformers

    parts: dict[str, Any] = {"class": type(tokenizer).__name__,
                             "transformers": transformers.__version__,
                             "tokenizers": tokenizers.__version__}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        # Calls set these on the backend as they go; the ids depend on our own call's arguments.
        state.pop("truncation", None)
        state.pop("padding", None)
        parts["backend"] = state
    else:
        parts["name"] = getattr(tokenizer, "name_or_path", "")
        parts["vocab"] = sorted(tokenizer.get_vocab().items())
        parts["special"] = tokenizer.all_special_tokens
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def texts_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class TokenCache:
    """Tokenised texts on disk; counts its hits and misses."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else token_cache_dir()
        self.hits = 0
        self.misses = 0

    def path(self, fingerprint: str, texts: list[str], max_length: int) -> Path:
        key = hashlib.sha256(
            f"{FORMAT_VERSION}|{fingerprint}|{max_length}|{texts_digest(texts)}".encode()
        ).hexdigest()
        return self.folder / f"{key[:32]}.npz"

    def encode(self, tokenizer, texts: list[str], labels: list[int], max_length: int, *,
               fingerprint: str | None = None, refresh: bool = False) -> Encoded:
        """``encode(...)``, from the cache when an entry exists (unless ``refresh``)."""
        fingerprint = fingerprint or tokenizer_fingerprint(tokenizer)
        path = self.path(fingerprint, texts, max_length)
        if not refresh:
            loaded = self._load(path, len(texts))
            if loaded is not None:
                self.hits += 1
                ids, lengths = loaded
                return Encoded(ids, lengths, np.asarray(labels, dtype=np.int64))
        self.misses += 1
        encoded = encode(tokenizer, texts, labels, max_length)
        self._store(path, encoded)
        return encoded

    def _load(self, path: Path, count: int) -> tuple[list[np.ndarray], np.ndarray] | None:
        """The stored (ids, lengths) of an entry for ``count`` texts, or None."""
        try:
            with np.load(path) as stored:
                flat, lengths = stored["ids"], stored["lengths"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("token cache entry %s is unreadable (%s); tokenising again", path, exc)
            return None
        lengths = lengths.astype(np.int64)
        if len(lengths) != count or int(lengths.sum()) != len(flat) or (lengths < 0).any():
            log.warning("token cache entry %s does not match its split; tokenising again", path)
            return None
        flat = flat.astype(np.int64)
        return (np.split(flat, np.cumsum(lengths)[:-1]) if count else []), lengths

    def _store(self, path: Path, encoded: Encoded) -> None:
        flat = np.concatenate(encoded.ids) if len(encoded) else np.zeros(0, dtype=np.int64)
        dtype = np.int32 if not len(flat) or int(flat.max()) < 2**31 else np.int64
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=flat.astype(dtype), lengths=encoded.lengths.astype(np.int32))
            os.replace(tmp, path)
        except OSError as exc:
            # A full or read-only cache folder costs the next run a tokenisation, nothing more.
            log.warning("could not keep tokenised split in %s (%s)", path.parent, exc)
            tmp.unlink(missing_ok=True)


def encode_splits(config: RunConfig, tokenizer, splits: dict[str, Any],
                  cache: TokenCache | None = None) -> dict[str, Encoded]:
    """Every split's token ids (through the cache), keyed like ``splits``."""
    cache = cache or TokenCache()
    fingerprint = tokenizer_fingerprint(tokenizer)
    encoded = {
        name: cache.encode(tokenizer, split.texts, split.labels, config.max_seq_length,
                           fingerprint=fingerprint, refresh=config.overwrite_cache)
        for name, split in splits.items()
    }
    log.info("tokenised %d splits (%d from the cache in %s)", len(encoded), cache.hits,
             cache.folder)
    return encoded
