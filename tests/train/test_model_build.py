"""Model construction: PEFT set-up, prompt initialisation, target checks, offline messages."""

from __future__ import annotations

import pytest
import torch
from toy_runs import toy_config

from emotui.core import methods
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError, DataError
from emotui.core.runstore import RunPaths
from emotui.train import builders
from emotui.train.builders import prompt_encoder
from emotui.train.checkpoint import Checkpointer, load_weights
from emotui.train.model import build_model

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
INIT_TEXT = "classify the emotion of the following text: "


def test_text_init_prompt_starts_from_the_init_text_tokens(tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method="prompt-text",
                        prompt_tuning_init_text=INIT_TEXT)
    built = build_model(config, LABELS)
    ids = built.tokenizer(INIT_TEXT, add_special_tokens=False)["input_ids"]
    # Default virtual token count: the init text's own tokens, no <s> or </s>.
    assert built.num_virtual_tokens == len(ids)
    assert built.prompt_init_ids == ids
    assert built.tokenizer.bos_token_id not in ids
    word_embeddings = built.model.word_embeddings.weight
    expected = word_embeddings[torch.tensor(ids)].float()
    actual = prompt_encoder(built.model).embedding.weight
    assert torch.equal(actual, expected)


def test_text_init_repeats_the_text_for_more_virtual_tokens(tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method="prompt-text",
                        prompt_tuning_init_text="sad", prompt_tuning_num_virtual_tokens=5)
    built = build_model(config, LABELS)
    ids = built.tokenizer("sad", add_special_tokens=False)["input_ids"]
    expected_ids = (ids * 5)[:5]
    weight = built.model.word_embeddings.weight[torch.tensor(expected_ids)]
    assert torch.equal(prompt_encoder(built.model).embedding.weight, weight)


def test_native_prompt_init_keeps_pefts_text_tokens(tiny_model_dir, toy_data_dir):
    """The reference recipe: PEFT's own init, from the text tokenised with special tokens."""
    config = toy_config(tiny_model_dir, toy_data_dir, method="prompt-text",
                        prompt_tuning_init_text=INIT_TEXT)
    built = build_model(config, LABELS, native_prompt_init=True)
    n_virtual = len(built.tokenizer(INIT_TEXT, add_special_tokens=False)["input_ids"])
    with_specials = built.tokenizer(INIT_TEXT)["input_ids"]
    assert built.num_virtual_tokens == n_virtual
    assert built.prompt_init_ids == with_specials[:n_virtual]
    assert built.prompt_init_ids[0] == built.tokenizer.bos_token_id


def test_random_prompt_uses_twenty_tokens_by_default(tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method="prompt-random")
    built = build_model(config, LABELS)
    assert built.num_virtual_tokens == 20
    assert prompt_encoder(built.model).embedding.weight.shape == (20, 32)
    trainable = {n for n, p in built.model.named_parameters() if p.requires_grad}
    assert any("prompt" in n for n in trainable) and any("classifier" in n for n in trainable)
    assert not any("encoder.layer" in n for n in trainable)


def test_lora_adapts_the_named_modules_only(tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method="lora", lora_r=4,
                        lora_target_modules="query,attention.output.dense")
    built = build_model(config, LABELS)
    lora = {n for n, p in built.model.named_parameters() if "lora_" in n}
    assert any(".query.lora_A" in n for n in lora)
    assert any("attention.output.dense.lora_A" in n for n in lora)
    assert not any(".value." in n or "intermediate" in n for n in lora)


def test_lora_target_the_model_lacks_lists_available_names(tiny_model_dir, toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method="lora", lora_target_modules="q_proj")
    with pytest.raises(ConfigError) as err:
        build_model(config, LABELS)
    message = str(err.value)
    assert "q_proj" in message and "\n" not in message
    for name in ("query", "key", "value", "attention.output.dense", "intermediate.dense"):
        assert name in message


def test_every_registered_method_has_one_builder():
    assert builders.registered() == methods.names()


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_each_method_builds_trains_and_round_trips_its_checkpoint(spec, tiny_model_dir,
                                                                  toy_data_dir, tmp_path):
    config = toy_config(tiny_model_dir, toy_data_dir, method=spec.alias)
    assert config.method == spec.name
    torch.manual_seed(0)
    built = build_model(config, LABELS)
    batch = built.tokenizer(["sad lonely gloomy", "happy cheerful glad", "furious angry mad"],
                            padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1, 3])
    trainable = [p for p in built.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    built.model.train()
    for _ in range(3):
        built.model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainable))
    trained = _logits(built.model, batch)

    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()  # a checkpoint never creates its run's folder (a deleted run stays so)
    Checkpointer(paths, built.model, built.tokenizer, built.is_peft, LABELS).save_best(3)
    torch.manual_seed(1)  # another fresh head (and adapter): loading must make them equal
    fresh = build_model(config, LABELS)
    assert not torch.allclose(_logits(fresh.model, batch), trained)
    load_weights(fresh.model, paths.checkpoint_best, fresh.is_peft)
    assert torch.allclose(_logits(fresh.model, batch), trained, atol=1e-6)


def test_a_method_without_a_builder_fails_before_loading(monkeypatch, toy_data_dir, tmp_path):
    monkeypatch.setattr(RunConfig, "method", property(lambda self: "qlora"))
    # An empty model folder: the builder lookup must fail before anything is loaded from it.
    (tmp_path / "no-model").mkdir()
    config = toy_config(tmp_path / "no-model", toy_data_dir)
    with pytest.raises(LookupError) as err:
        build_model(config, LABELS)
    assert str(err.value).startswith("method 'qlora' has no model builder; register one with "
                                     "@builds('qlora')")
    with pytest.raises(ConfigError, match="unknown method 'qlora'"):
        builders.builds("qlora")


def _force_offline(monkeypatch):
    # The env vars are read when huggingface_hub/datasets are imported, which may have happened.
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)


def test_hub_model_offline_names_the_local_alternative(monkeypatch, toy_data_dir, tmp_path):
    _force_offline(monkeypatch)
    monkeypatch.chdir(tmp_path)  # so "roberta-base" is not a folder by accident
    from emotui.train import train

    config = toy_config("roberta-base", toy_data_dir)
    with pytest.raises(ConfigError) as err:
        train(config, tmp_path / "run")
    message = str(err.value)
    assert message == ("cannot load model 'roberta-base' from the Hub (offline?); pass a local "
                       "folder to --model_name_or_path")


def test_hub_dataset_offline_names_the_local_alternative(monkeypatch, tiny_model_dir, tmp_path):
    _force_offline(monkeypatch)
    monkeypatch.chdir(tmp_path)
    from emotui.core.config import build_config
    from emotui.train import train

    config, _ = build_config([("test", {"model_name_or_path": str(tiny_model_dir)})])
    assert config.dataset_name == "dair-ai/emotion"
    with pytest.raises(DataError) as err:
        train(config, tmp_path / "run")
    message = str(err.value)
    assert message.startswith("cannot reach the Hugging Face Hub to load dataset 'dair-ai/emotion'")
    assert "--train_file" in message and "--data_dir" in message and "\n" not in message
    from emotui.core.status import read_status
    from emotui.core.runstore import RunPaths

    assert read_status(RunPaths(tmp_path / "run"))["state"] == "failed"
