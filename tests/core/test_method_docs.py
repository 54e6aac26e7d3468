"""The README and the sweep files' README follow the method registry: the README's lists of
methods are generated (tests/core/readme_methods.py) and must be current; what a person writes
(each method's options, its measured default rate, a sweep file's row) must be there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import readme_methods

from emotui.core import methods
from emotui.core.config import FIELDS
from emotui.core.method_settings import LORA_INITS

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
SWEEPS_README = (REPO / "sweep_configs" / "README.md").read_text(encoding="utf-8")


def as_written(value) -> str:
    """A default as the options table writes it: 8, 0.1, false."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def test_the_generated_lists_are_current():
    assert readme_methods.text(README) == README, (
        f"README.md's lists of methods are stale: regenerate them with {readme_methods.COMMAND}")


def test_the_generated_lists_name_every_method():
    # What the generator writes, read back: a pattern it no longer finds fails it, not this.
    def listed(lead: str) -> list[str]:
        found = re.search(re.escape(lead) + r"((?:[a-z0-9_-]+\\?\|)+[a-z0-9_-]+)", README)
        return found.group(1).replace("\\", "").split("|")

    assert listed("`--peft_method ") == [p for p in methods.peft_choices() if p]
    assert listed("`--method ") == list(methods.aliases())
    assert listed("tag ") == [m.tag for m in methods.METHODS]
    assert listed("`--init_lora_weights ") == list(LORA_INITS)
    assert f"`f1`–`f{len(methods.METHODS)}` pick the method" in README


@pytest.mark.parametrize("spec", [m for m in methods.METHODS if m.settings],
                         ids=lambda m: m.name)
def test_the_options_table_names_every_setting_at_its_default(spec):
    row = next((line for line in README.splitlines()
                if line.strip().startswith("|") and f"`--{spec.owns[0]}`" in line), "")
    missing = [f for f in spec.owns if f"`--{f}" not in row]
    assert not missing, f"README.md's table of method options: {spec.label}'s row lacks {missing}"
    for flat in spec.owns:
        default = FIELDS[flat].default
        given = re.search(rf"`--{flat}` \(([^)]*)\)", row)
        if given and default is not None:  # a default the row states is the registry's
            assert given.group(1).startswith(as_written(default)), (flat, given.group(1))


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_each_default_rate_was_measured(spec):
    table = README[README.index(readme_methods.DEFAULTS_HEADER):].split("\n\n")[0]
    row = next(line for line in table.splitlines() if f"| `{spec.alias}` |" in line)
    rate = readme_methods.short(spec.defaults["learning_rate"])
    if readme_methods.UNMEASURED in row:  # listed by -ra until someone measures it
        pytest.xfail(f"{spec.alias}'s default rate {rate} is not measured yet: "
                     f"{readme_methods.MEASURE} {spec.alias}={rate},...")
    assert f"at {rate}" in row.split("|")[3], (
        f"README.md's 'Method defaults' gives no accuracy of {spec.alias} at its default {rate}: "
        f"measure it ({readme_methods.MEASURE} {spec.alias}={rate},...) and write it in the row")


def test_the_sweep_files_readme_has_a_row_per_file():
    for path in sorted((REPO / "sweep_configs").glob("*.yaml")):
        assert f"| `{path.name}` |" in SWEEPS_README, \
            f"sweep_configs/README.md has no row for {path.name}"
