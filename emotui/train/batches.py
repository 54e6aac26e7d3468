"""Tokenised splits and the batches built from them (dynamic padding, length buckets).

Texts are tokenised once per split, without padding; a batch is padded to its own longest
example, so short tweets do not pay for 128 positions. Training batches are drawn from
length-sorted chunks and then shuffled, with an order that depends only on (seed, epoch): a
resumed run replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Sort within chunks of this many batches: batches of similar lengths, still a random mix.
BUCKET_CHUNK_BATCHES = 50


@dataclass
class Encoded:
    ids: list[np.ndarray]
    lengths: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def encode(tokenizer, texts: list[str], labels: list[int], max_length: int) -> Encoded:
    out = tokenizer(
        texts, truncation=True, max_length=max_length, padding=False,
        return_attention_mask=False, return_token_type_ids=False,
    )
    ids = [np.asarray(x, dtype=np.int64) for x in out["input_ids"]]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return Encoded(ids, lengths, np.asarray(labels, dtype=np.int64))


def train_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int,
                  bucketed: bool = True) -> list[np.ndarray]:
    """The epoch's batches of example indices; a pure function of (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if not bucketed:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    chunk = batch_size * BUCKET_CHUNK_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Length-sorted batches (least padding); callers scatter results back by index."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(enc: Encoded, index: np.ndarray, pad_id: int, *, pad_to: int | None = None,
            multiple_of: int | None = None) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and labels of the examples at ``index``, padded right."""
    width = int(enc.lengths[index].max()) if pad_to is None else pad_to
    if multiple_of and pad_to is None:
        width = -(-width // multiple_of) * multiple_of
    input_ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    for row, i in enumerate(index):
        seq = enc.ids[i]
        input_ids[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(enc.labels[index]),
    }
