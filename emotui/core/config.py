"""The one typed run config, and how raw settings become one.

``RunConfig`` holds every setting of a run: the general ones (``emotui.core.general_settings``)
and, right after ``peft_method``, each method's settings group (``emotui.core.method_settings``,
named by its registry entry in ``emotui.core.methods``). It holds them flat, under the study's
names (``lora_r``), which is how code reads them (``config.lora_r``) and how config.yaml, W&B and
tables name them; ``lora.r`` and ``lora: {r: 8}`` are the same keys spelt by group, taken
wherever settings are read. The CLI flags, the TUI launch form, the sweep validator and the saved
``config.yaml`` are all derived from it.

``build_config`` merges layers of raw settings (defaults < user config < ``--config`` file <
flags or the form; a sweep trial's values; a saved config.yaml) into a RunConfig checked by
``emotui.core.config_checks``. A run's ``config.yaml`` is written flat, in field order
(``dump_config``), and read back by ``config_from_yaml``, which takes either spelling.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from emotui.core import methods, setting_values, settings, training_args
from emotui.core.config_checks import validate_combinations
from emotui.core.config_files import read_yaml_mapping, split_sections
from emotui.core.errors import ConfigError
from emotui.core.general_settings import GROUPS, GeneralSettings
from emotui.core.method_settings import flat_names
from emotui.core.setting_values import suggest
from emotui.core.settings import FieldSpec, spec_of

# ---------------------------------------------------------------------------------------------
# RunConfig: the general settings and the method groups, flat
# ---------------------------------------------------------------------------------------------


def _copy(f: dataclasses.Field, spec: FieldSpec | None = None) -> dataclasses.Field:
    return dataclasses.field(default=f.default, default_factory=f.default_factory,
                             metadata={"spec": spec or spec_of(f)})


def _run_config_fields() -> dict[str, tuple[Any, dataclasses.Field]]:
    """{flat name: (annotation, field)}: the general settings in their order, and each method
    group's settings (registry order) right after peft_method, the setting that selects them."""
    general = {f.name for f in dataclasses.fields(GeneralSettings)}
    out: dict[str, tuple[Any, dataclasses.Field]] = {}
    for f in dataclasses.fields(GeneralSettings):
        out[f.name] = (f.type, _copy(f))
        if f.name != methods.PEFT_FIELD:
            continue
        for group in methods.setting_groups():
            if group.GROUP in general:
                raise AssertionError(f"settings group {group.GROUP} is named like a setting")
            names = flat_names(group)
            for g in dataclasses.fields(group):
                flat = names[g.name]
                if flat in general or flat in out:
                    raise AssertionError(f"{group.__name__}.{g.name}: {flat} is taken")
                out[flat] = (g.type, _copy(g, dataclasses.replace(spec_of(g), group="method")))
    return out


def _assembled(cls: type) -> type:
    """``cls`` made a dataclass of ``_run_config_fields()``."""
    fields = _run_config_fields()
    cls.__annotations__ = {name: annotation for name, (annotation, _) in fields.items()}
    for name, (_, f) in fields.items():
        setattr(cls, name, f)
    return dataclass(cls)


@_assembled
class RunConfig:
    """Everything that determines what a run does. Saved, fully resolved, as ``config.yaml``.

    A dataclass of the general settings and every method's settings, each a field under its
    flat name (``config.lora_r``)."""

    @property
    def method(self) -> str:
        """The method name (emotui.core.methods) the study's settings select."""
        return methods.recognise(vars(self)).name

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Plain dict in declaration order; secrets left out unless asked for."""
        out = {}
        for f in dataclasses.fields(self):
            if FIELDS[f.name].secret and not include_secrets:
                continue
            out[f.name] = getattr(self, f.name)
        out["method"] = self.method
        return out

    def lora_targets(self) -> list[str]:
        raw = self.lora_target_modules or "query,value"
        return [m.strip() for m in raw.split(",") if m.strip()]

    def text_columns(self) -> list[str]:
        return [c.strip() for c in self.text_column_names.split(",") if c.strip()]


# ---------------------------------------------------------------------------------------------
# The keys a layer may hold
# ---------------------------------------------------------------------------------------------

# Keys the study's files spell differently from its flags (argparse accepted the prefix).
KEY_ALIASES = {
    "text_column_name": "text_column_names",
    "evaluation_strategy": "eval_strategy",
    "method": "method",
}
# Each method setting spelt by its group: {"lora.r": "lora_r", ...}.
GROUPED_KEYS = methods.grouped_keys()

# transformers.TrainingArguments fields (5.x plus names removed since 4.x) not declared above:
# accepted, stored in extra_training_args, used by the reference recipe, ignored by the default one
# (except torch_compile_mode, which both recipes use when they compile).
EXTRA_TRAINING_ARGS = frozenset(
    """lr_scheduler_kwargs optim optim_args optim_target_modules average_tokens_across_devices
    bf16_full_eval fp16_full_eval tf32 activation_checkpointing activation_checkpointing_kwargs
    gradient_checkpointing gradient_checkpointing_kwargs torch_compile_backend torch_compile_mode
    use_liger_kernel liger_kernel_config use_cache neftune_noise_alpha torch_empty_cache_steps
    auto_find_batch_size logging_strategy logging_first_step log_on_each_node
    logging_nan_inf_filter include_num_input_tokens_seen log_level log_level_replica project
    eval_delay prediction_loss_only eval_on_start eval_do_concat_batches eval_use_gather_object
    eval_accumulation_steps include_for_metrics batch_eval_metrics save_only_model
    save_on_each_node enable_jit_checkpoint push_to_hub hub_private_repo hub_model_id hub_strategy
    hub_always_push hub_revision ignore_data_skip restore_callback_states_from_checkpoint
    full_determinism data_seed use_cpu accelerator_config parallelism_config dataloader_drop_last
    dataloader_pin_memory dataloader_persistent_workers dataloader_prefetch_factor
    dataloader_multiprocessing_context dataloader_in_order remove_unused_columns label_names
    train_sampling_strategy length_column_name ddp_find_unused_parameters ddp_bucket_cap_mb
    ddp_broadcast_buffers ddp_static_graph ddp_backend ddp_timeout fsdp fsdp_config deepspeed debug
    skip_memory_metrics resume_from_checkpoint local_rank logging_dir save_safetensors
    group_by_length per_gpu_train_batch_size per_gpu_eval_batch_size eval_accumulation
    dataloader_prefetch include_inputs_for_metrics include_tokens_per_second jit_mode_eval
    use_ipex no_cuda use_mps_device torchdynamo ray_scope save_on_each_node hub_token
    push_to_hub_model_id push_to_hub_organization push_to_hub_token mp_parameters
    fp16_opt_level fp16_backend half_precision_backend tpu_num_cores tpu_metrics_debug
    past_index adafactor sharded_ddp optim_target_modules split_batches dispatch_batches
    neftune_noise_alpha use_legacy_prediction_loop""".split()
) - {f.name for f in dataclasses.fields(RunConfig)}
SECRET_EXTRA_ARGS = frozenset({"hub_token", "push_to_hub_token"})


def unknown_key_error(key: str, source: str) -> ConfigError:
    """A key no layer may hold; its "did you mean" never names the key refused (a field only a
    file may hold, such as extra_training_args, is refused in --set and sweep parameters)."""
    if normalize_key(key) == "extra_training_args":
        return ConfigError(f"{source} cannot set extra_training_args as a whole; give each "
                           "TrainingArguments setting by its own name (e.g. optim=adafactor)")
    known = (set(FIELDS) | set(KEY_ALIASES) | set(GROUPED_KEYS)) - {key, normalize_key(key)}
    hint = suggest(key, sorted(known))
    return ConfigError(f"unknown setting '{key}' in {source}{hint}"
                       + ("" if hint else "; 'emotui run --help' lists them"))


RUN_SETTINGS = settings.Schema.of(
    RunConfig, "run",
    # The method registry says which methods each field belongs to.
    methods={name: methods.owners(name) or None for name in methods.owned_fields()},
    aliases={**{k: v for k, v in KEY_ALIASES.items() if k != v}, **GROUPED_KEYS},
    nested=frozenset(group.GROUP for group in methods.setting_groups()),
    # `method` is the registry's shorthand; the rest are TrainingArguments kept as given.
    others=frozenset({"method"}) | EXTRA_TRAINING_ARGS,
    groups=GROUPS, dest_prefix="cfg__", underscore_flags="first", alias_flags=True,
    unknown=unknown_key_error,
)
FIELDS: dict[str, FieldSpec] = dict(RUN_SETTINGS.fields)


def field_type(name: str) -> type:
    """The scalar type of a field (int, float, str, bool, dict), with Optional stripped."""
    return FIELDS[name].type


def is_nullable(name: str) -> bool:
    return FIELDS[name].nullable


def coerce_value(name: str, value: Any, source: str = "config") -> Any:
    """Turn a raw value (a string from a flag, a YAML scalar) into the field's type, or raise."""
    return setting_values.coerce(FIELDS[name], value, source)


def check_range(name: str, value: Any, source: str = "config") -> None:
    setting_values.check_range(FIELDS[name], value, source)


def normalize_key(key: str) -> str:
    """Any spelling of a key -> its field name: dashes to underscores, the study's aliases and
    the grouped spellings (lora.r) resolved."""
    return RUN_SETTINGS.key(key)


def known_keys() -> set[str]:
    return set(FIELDS) | set(EXTRA_TRAINING_ARGS) | set(KEY_ALIASES)


# ---------------------------------------------------------------------------------------------
# Layers -> RunConfig
# ---------------------------------------------------------------------------------------------


def build_config(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[RunConfig, set[str]]:
    """Merge raw settings (lowest precedence first) into a validated RunConfig.

    Each layer is ``(source name, {key: raw value})``: e.g. ``[("config.yaml", {...}),
    ("command line", {...})]``. Returns the config and the set of keys given explicitly.
    """
    merged = settings.layer_settings(RUN_SETTINGS, layers, others=_method_and_training_args)
    defaulted = _fill_method_defaults(merged, layers)
    config = merged.build()
    given = set(merged.values) - {*defaulted, methods.DEFAULTS_FIELD}
    validate_combinations(config, given, merged.sources)
    absolutize_local_paths(config)
    return config, given


def _fill_method_defaults(merged: settings.Layered, layers) -> tuple[str, ...]:
    """The recognised method's defaults for what no layer gave, listed in method_defaults.
    A saved config's list (from the layer that set it) keeps its values while its method does."""
    source = merged.sources.get(methods.DEFAULTS_FIELD)
    recorded = tuple(k for k in merged.values.get(methods.DEFAULTS_FIELD, ())
                     if merged.sources.get(k) == source)
    recorded_for = None
    if recorded:
        layer = RUN_SETTINGS.spread(dict(layers).get(source) or {}, source)
        recorded_for = methods.layer_method({normalize_key(k): v for k, v in layer.items()})
    filled = methods.fill_defaults(merged.values, recorded, recorded_for)
    for key in filled:
        merged.sources.setdefault(key, "method default")
    merged.set(methods.DEFAULTS_FIELD, list(filled), "method default")
    return filled


def _method_and_training_args(merged: settings.Layered, others: dict[str, Any],
                              source: str) -> None:
    """A layer's keys that are not RunConfig fields: the `method` shorthand (applied after the
    layer's fields) and other TrainingArguments (kept as given, tokens never)."""
    for key, value in others.items():
        if key in EXTRA_TRAINING_ARGS and key not in SECRET_EXTRA_ARGS:
            # Checked against transformers' own field types now, not inside the job later.
            merged.set("extra_training_args",
                       {key: training_args.check_value(key, value, source)}, source)
    if "method" in others:
        # The same layer's own peft_method must agree with its method (--method lora
        # --peft_method prompt_tuning says two things; neither silently wins).
        given = {methods.PEFT_FIELD: merged.values.get(methods.PEFT_FIELD)} \
            if merged.sources.get(methods.PEFT_FIELD) == source else {}
        for k in methods.select(merged.values, others["method"], source, given=given):
            merged.sources[k] = source


# Settings that may name local files or folders. A run's config.yaml must work from any working
# directory (a Slurm job, `emotui predict` run elsewhere), so existing local paths become absolute.
PATH_FIELDS = ("model_name_or_path", "config_name", "tokenizer_name", "cache_dir", "data_dir",
               "train_file", "validation_file", "test_file")


def absolutize_local_paths(config: RunConfig) -> None:
    for name in PATH_FIELDS:
        value = getattr(config, name)
        if not value:
            continue
        path = Path(value).expanduser()
        if name == "cache_dir" or path.exists():
            # normpath: '../shared/x' and its absolute spelling are one model in every table.
            setattr(config, name, os.path.normpath(os.path.abspath(path)))


# ---------------------------------------------------------------------------------------------
# A run's config.yaml
# ---------------------------------------------------------------------------------------------


def config_from_yaml(path: Path) -> RunConfig:
    """Load a saved config.yaml back: as dump_config writes it (flat), or with settings spelt by
    group (``lora: {r: 8}``, ``lora.r``)."""
    data = read_yaml_mapping(path, "run config")
    data.pop("method", None)  # derived
    run, _ = split_sections(data)
    config, _ = build_config([(str(path), run)])
    return config


def dump_config(config: RunConfig) -> str:
    """YAML text of the fully resolved config (no secrets): flat keys (the study's names, as
    W&B and every reader of a run take them), fields in declaration order."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
