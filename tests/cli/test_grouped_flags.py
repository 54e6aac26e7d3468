"""`emotui run` and `emotui sweep` take a method's settings by group (--lora.r, lora.r:, W&B's
nested `lora: {parameters: ...}`) as they take the study's flat names."""

from __future__ import annotations

import textwrap


def test_a_grouped_flag_is_checked_as_its_flat_setting(cli):
    result = cli("run", "--method", "lora", "--lora.r", "0")
    assert result.code == 2
    assert result.err.strip() == "emotui: error: lora_r (from command line) must be >= 1, got 0"
    assert not cli.runs_dir.exists() or not any(cli.runs_dir.iterdir())


def test_a_misspelt_grouped_flag_gets_a_suggestion(cli):
    result = cli("run", "--lora.rr", "3")
    assert result.code == 2
    assert result.err.strip() == "emotui: error: unknown flag --lora.rr; did you mean --lora.r?"


def test_a_sweep_file_by_group_lists_its_trials_by_their_settings(cli, tmp_path):
    sweep = tmp_path / "soft.yaml"
    sweep.write_text(textwrap.dedent("""\
        method: grid
        parameters:
          learning_rate: {values: [2.0e-3, 2.0e-2]}
          prompt_tuning:
            parameters:
              num_virtual_tokens: {values: [8, 16]}
          peft_method: {value: prompt_tuning}
          lora.r: {value: 8}
        """))
    result = cli("sweep", str(sweep), "--dry-run")
    assert result.code == 0, result.err
    assert "4 trials planned" in result.out
    assert "prompt_tuning_num_virtual_tokens=16" in result.out
