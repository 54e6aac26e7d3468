"""The method registry: names, lookups, recognition from configs, and what derives from it."""

from __future__ import annotations

import pytest

from emotui.core import methods
from emotui.core.config import FIELDS, build_config
from emotui.core.errors import ConfigError, or_list
from emotui.core.method_settings import flat_names
from emotui.core.results import KEY_HYPERPARAMETERS
from emotui.core.runstore import RUN_ID_RE, new_run_id

# Names, aliases and tags that runs, sweep files and study files already hold: they must keep
# meaning the same method (more may be added; none renamed or removed).
RECORDED = {"full": ("full", "full"), "lora": ("lora", "lora"),
            "prompt_tuning_text": ("prompt-text", "ptext"),
            "prompt_tuning_random": ("prompt-random", "prand"), "ia3": ("ia3", "ia3"),
            "prefix_tuning": ("prefix", "prefix"), "p_tuning": ("p-tuning", "ptune")}


def test_the_registry_in_picker_order():
    assert methods.names() == tuple(m.name for m in methods.METHODS)
    assert methods.aliases() == tuple(m.alias for m in methods.METHODS)
    assert methods.DEFAULT_CHOICE in methods.names()


def test_recorded_names_keep_their_meaning():
    for name, (alias, tag) in RECORDED.items():
        spec = methods.get(name)
        assert (spec.alias, spec.tag) == (alias, tag)
        assert methods.resolve(alias) is spec and methods.from_tag(tag) is spec
    # The picker's keys (f1, f2, ...) of the methods users know stay theirs: new ones go last.
    assert methods.names()[:len(RECORDED)] == tuple(RECORDED)


def test_names_aliases_and_tags_are_unique_and_fit_a_run_id():
    for attribute in ("name", "alias", "tag", "label"):
        values = [getattr(m, attribute) for m in methods.METHODS]
        assert len(set(values)) == len(values), attribute
    for m in methods.METHODS:
        assert RUN_ID_RE.match(f"250101-000000-{m.tag}-abcd")
        assert "-" not in m.tag  # run ids are split on '-' to read the tag back
        assert methods.resolve(m.alias) is methods.resolve(m.name) is m


def test_one_method_has_no_peft():
    assert [m.name for m in methods.METHODS if m.peft_method is None] == ["full"]
    assert methods.peft_choices() == tuple(dict.fromkeys(m.peft_method for m in methods.METHODS))
    assert methods.peft_choices()[0] is None
    # The study's own values.
    assert {"lora", "prompt_tuning"} <= set(methods.peft_choices())


def test_each_method_is_selected_by_its_peft_method_alone_or_with_an_init_text():
    for m in methods.METHODS:
        sharing = [o for o in methods.METHODS if o.peft_method == m.peft_method]
        if len(sharing) > 1:  # the two prompt tunings: the init text tells them apart
            assert sorted(o.init_text for o in sharing) == [False, True]


def test_every_field_a_method_names_is_a_config_field():
    for m in methods.METHODS:
        for name in (*m.owns, *m.defaults, *(s.field for s in m.shown)):
            assert name in FIELDS, (m.name, name)


def test_owned_fields():
    # Spot checks that read as documentation...
    assert methods.owners("lora_r") == ("lora",)
    assert methods.owners("prompt_tuning_num_virtual_tokens") == ("prompt_tuning_text",
                                                                  "prompt_tuning_random")
    assert methods.owners("prompt_tuning_init_text") == ("prompt_tuning_text",)
    assert methods.owners("learning_rate") == ()
    # ... and the rule for every method: it owns its group's settings, less those it omits.
    for m in methods.METHODS:
        group = flat_names(m.settings) if m.settings else {}
        assert m.owns == tuple(flat for name, flat in group.items() if name not in m.omits)
        for field_name in m.owns:
            assert m.name in methods.owners(field_name)
            assert methods.applies(field_name, m.name)
    assert set(methods.owned_fields()) == {f for m in methods.METHODS for f in m.owns}


@pytest.mark.parametrize("text", ["prompt-text", "prompt_tuning_text", " Prompt-Text "])
def test_resolve_takes_alias_or_name_in_any_case(text):
    assert methods.resolve(text).name == "prompt_tuning_text"


def test_unknown_method_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError) as err:
        methods.resolve("lorra", "method (from flags)")
    message = str(err.value)
    assert message.startswith(f"method (from flags) must be one of: "
                              f"{', '.join(methods.aliases())}; got 'lorra'")
    assert message.endswith("did you mean 'lora'?") and "\n" not in message
    with pytest.raises(ConfigError, match="known: full, lora, .*did you mean 'lora'"):
        methods.get("loraa")
    assert methods.find("qlora") is None and methods.find(None) is None


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_each_method_round_trips_through_the_config(spec):
    config, _ = build_config([("test", {"method": spec.alias})])
    assert config.method == spec.name
    saved = config.to_dict()
    assert saved["method"] == spec.name
    assert methods.method_of(saved) == spec.name
    # A study config (W&B) has no `method` key: the method is recognised from peft_method etc.
    study = {k: v for k, v in saved.items() if k != "method"}
    assert methods.method_of(study) == spec.name
    assert methods.recognise(study) is spec


def test_method_of_records():
    assert methods.method_of({}) is None
    assert methods.method_of({"method": "lora"}) == "lora"
    assert methods.method_of({"learning_rate": 1e-3}) == "full"
    assert methods.method_of({"peft_method": "prompt_tuning"}) == "prompt_tuning_random"
    assert methods.method_of({"peft_method": "prompt_tuning",
                              "prompt_tuning_init_text": "x"}) == "prompt_tuning_text"
    assert methods.method_of({"method": ["not", "a", "name"], "peft_method": "lora"}) == "lora"


def test_choosing_a_method_implies_its_defaults_unless_given():
    values: dict = {}
    methods.select(values, "prompt-text", "flags")
    assert values == {"peft_method": "prompt_tuning",
                      "prompt_tuning_init_text": methods.DEFAULT_PROMPT_INIT_TEXT}
    values = {"prompt_tuning_init_text": "sad or glad"}
    methods.select(values, "prompt-text", "flags")
    assert values["prompt_tuning_init_text"] == "sad or glad"
    with pytest.raises(ConfigError, match="prompt_tuning_init_text .from flags. contradicts "
                                          "method prompt-random; drop one of them"):
        methods.select({"prompt_tuning_init_text": "x"}, "prompt-random", "flags")


def test_a_field_of_another_method_names_the_flag_that_selects_its_method():
    with pytest.raises(ConfigError) as err:
        build_config([("test", {"method": "lora", "prompt_tuning_num_virtual_tokens": 8})])
    assert str(err.value) == (
        "prompt_tuning_num_virtual_tokens (from test) applies to prompt_tuning_text, "
        "prompt_tuning_random but this run is lora; add --peft_method prompt_tuning or drop "
        "prompt_tuning_num_virtual_tokens"
    )


def test_run_id_tags_and_labels():
    for m in methods.METHODS:
        assert f"-{m.tag}-" in new_run_id(m.name)
        assert methods.from_tag(m.tag) is m
        assert methods.short_label(m.name) == m.tag
    assert methods.run_id_tag(None) == "run" and methods.from_tag("run") is None
    assert methods.short_label(None) == "-" and methods.short_label("qlora") == "qlora"


def test_table_hyperparameters_come_from_the_registry():
    shown = tuple(dict.fromkeys(s.field for m in methods.METHODS for s in m.shown))
    assert KEY_HYPERPARAMETERS == (
        "model_name_or_path", "learning_rate", "per_device_train_batch_size", "num_train_epochs",
        *shown, "seed",
    )
    for m in methods.METHODS:  # a method's table hyperparameters are its own settings
        assert all(s.field in m.owns for s in m.shown), m.name
    from emotui.tui.formatting import hyperparameters

    row = {"learning_rate": 1e-3, "per_device_train_batch_size": 64, "lora_r": 8,
           "lora_alpha": 16, "prompt_tuning_num_virtual_tokens": 12}
    assert hyperparameters({**row, "method": "lora"}) == "lr=0.001 bs=64 r=8 a=16"
    assert hyperparameters({**row, "method": "prompt_tuning_random"}) == "lr=0.001 bs=64 vt=12"
    assert hyperparameters({**row, "method": "full"}) == "lr=0.001 bs=64"
    # Switches show their name when on, nothing when off.
    assert hyperparameters({**row, "method": "lora", "use_dora": True, "use_rslora": False}) \
        == "lr=0.001 bs=64 r=8 a=16 dora"
    assert hyperparameters({"learning_rate": 3e-2, "per_device_train_batch_size": 64,
                            "method": "p_tuning", "p_tuning_num_virtual_tokens": 20,
                            "p_tuning_encoder_reparameterization_type": "lstm"}) \
        == "lr=0.03 bs=64 vt=20 enc=lstm"


def test_help_lists_every_method():
    text = methods.describe()
    assert len(text.splitlines()) == len(methods.METHODS)
    for m in methods.METHODS:
        assert m.alias in text and m.label in text and m.help in text
    assert methods.PEFT_METHOD_HELP == (
        f"{or_list([p for p in methods.peft_choices() if p])}; unset means full fine-tuning.")
