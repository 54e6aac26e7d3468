"""The default recipe's fast path does no work on padding, and computes what the padded path does.

Fast path: each batch only as wide as its longest text (length-bucketed training batches,
evaluation batches cut from the length-sorted split). Plain path: every text padded to
max_seq_length, in the split's order, as the study ran it. In fp32 on the CPU both give the same
logits (atol 1e-5, rtol 1e-4), loss (atol 1e-6) and gradients (atol 1e-5, rtol 1e-4), for every
registered method, prompt tuning's virtual tokens included (RoBERTa's position ids count from
padding_idx + 1 and right-padding leaves them unchanged).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from toy_runs import new_run, toy_config

from emotui.core import methods
from emotui.core.events import read_all
from emotui.train import train
from emotui.train.batches import (
    EVAL_PAD_SHARE,
    collate,
    encode,
    eval_batches,
    padding_share,
    train_batches,
)
from emotui.train.data import load_splits
from emotui.train.loop import TrainingLoop
from emotui.train.model import build_model

LOGITS_TOLERANCE = dict(atol=1e-5, rtol=1e-4)
LOSS_TOLERANCE = 1e-6
GRAD_TOLERANCE = dict(atol=1e-5, rtol=1e-4)


def plain_logits(model, enc, pad_id, width, batch_size=8) -> torch.Tensor:
    """Every text padded to ``width``, batches in the split's order."""
    out = []
    for start in range(0, len(enc), batch_size):
        index = np.arange(start, min(start + batch_size, len(enc)))
        batch = collate(enc, index, pad_id, pad_to=width)
        out.append(model(input_ids=batch["input_ids"],
                         attention_mask=batch["attention_mask"]).logits)
    return torch.cat(out)


@pytest.fixture(scope="module", params=methods.names())
def loop(request, tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method=methods.get(request.param).alias)
    dataset = load_splits(config)
    built = build_model(config, dataset.label_names)
    torch.manual_seed(0)
    with torch.no_grad():  # LoRA's B starts at zero: make every trainable part matter
        for param in built.model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.05)
    encoded = {name: encode(built.tokenizer, split.texts, split.labels, config.max_seq_length)
               for name, split in dataset.splits.items()}
    loop = TrainingLoop(config, built.model, built.tokenizer.pad_token_id, encoded,
                        dataset.label_names, checkpointer=None, hooks=None,
                        device=torch.device("cpu"))
    assert loop.amp_dtype is None and not loop.compiled  # fp32, eager: the comparison's premise
    loop.model.eval()  # no dropout: both paths must compute the same function
    return loop


def test_evaluation_gives_the_padded_paths_logits_and_loss(loop):
    enc = loop.data["validation"]
    fast = torch.empty(len(enc), len(loop.label_names))
    with torch.no_grad():
        for index in enc.eval_batches(loop.config.per_device_eval_batch_size):
            batch = loop._batch(enc, index)
            assert batch["input_ids"].shape[1] == enc.lengths[index].max()  # no extra width
            fast[torch.from_numpy(index)] = loop.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        plain = plain_logits(loop.model, enc, loop.pad_id, loop.config.max_seq_length)
    torch.testing.assert_close(fast, plain, **LOGITS_TOLERANCE)
    loss, _, _ = loop.predict_split(enc)  # the loop's own evaluation: same loss
    assert abs(loss - F.cross_entropy(plain, torch.from_numpy(enc.labels)).item()) \
        <= LOSS_TOLERANCE


def test_a_training_step_gives_the_padded_paths_loss_and_gradients(loop):
    enc = loop.data["train"]
    index = train_batches(enc.lengths, 16, seed=7, epoch=0)[0]

    def loss_and_grads(batch):
        loop.model.zero_grad(set_to_none=True)
        loss = loop.forward_backward(batch)
        grads = {n: p.grad.clone() for n, p in loop.model.named_parameters() if p.grad is not None}
        return loss.item(), grads

    fast_loss, fast_grads = loss_and_grads(loop._batch(enc, index))
    plain_loss, plain_grads = loss_and_grads(
        collate(enc, index, loop.pad_id, pad_to=loop.config.max_seq_length))
    loop.model.zero_grad(set_to_none=True)
    assert abs(fast_loss - plain_loss) <= LOSS_TOLERANCE
    assert fast_grads.keys() == plain_grads.keys() and fast_grads
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], **GRAD_TOLERANCE,
                                   msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("batch_size", [1, 4, 64, 256])
def test_evaluation_batches_cover_the_split_once_within_the_padding_share(batch_size):
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(3, 40, 900), rng.integers(40, 128, 100)])
    batches = eval_batches(lengths, batch_size)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    assert max(len(b) for b in batches) <= batch_size
    assert padding_share(lengths, batches) <= EVAL_PAD_SHARE
    assert eval_batches(np.zeros(0, dtype=np.int64), batch_size) == []


def test_train_events_carry_the_padding_share_and_tokens_per_second(tiny_model_dir, toy_data_dir,
                                                                     runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=1)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    events = [e for e in read_all(paths.metrics) if e["split"] == "train"]
    assert events
    for event in events:
        assert 0 <= event["pad_fraction"] < 0.5 and event["tokens_per_s"] > 0
    assert results["torch_compile"] is False and results["compile_s"] == 0  # auto on the CPU
    assert 0 <= results["train_pad_fraction"] < 0.5 and 0 <= results["eval_pad_fraction"] < 0.5
    assert results["train_tokens_per_second"] > 0


@pytest.fixture(scope="module")
def emotion_lengths(emotion_data_dir, minilm_dir):
    """Token counts of the real dair-ai/emotion splits (MiniLM's tokenizer stands in for
    RoBERTa's: mean 22.3 tokens against RoBERTa's 21.8)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    out = {}
    for split in ("train", "validation", "test"):
        path = emotion_data_dir / f"{split}.jsonl"
        texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
        ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
        out[split] = np.array([len(x) for x in ids])
    return out


def test_padding_on_the_real_emotion_lengths_is_below_5_percent(emotion_lengths):
    train = emotion_lengths["train"]
    for epoch in range(3):  # the study's batch size
        assert padding_share(train, train_batches(train, 64, seed=42, epoch=epoch)) < 0.05
    for split in ("validation", "test"):
        lengths = emotion_lengths[split]
        for batch_size in (64, 256, 512):  # 256: the default evaluation batch
            batches = eval_batches(lengths, batch_size)
            assert padding_share(lengths, batches) < 0.05
            # Still large batches: a few more than plain fixed-size ones, not one per length.
            assert len(batches) <= math.ceil(len(lengths) / batch_size) + 16
